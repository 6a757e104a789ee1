#!/usr/bin/env bash
# The portable key, measured end to end (docs/design.md §10.3; issue 17 asks for a stick's
# settings applied within 100 ms of the stick being seen): the real `attune` writes a person's
# sealed preferences to a stick folder against the real attune-cloud (--dev, SQLite, loopback),
# then `attune listen` on a fresh computer whose cloud is blackholed (a loopback socket that
# accepts and never answers) sees the stick N times (inserted whole by a rename, as a mount
# appears; pulled out after each key-in). Prints, per insertion and as a median, the time from
# the listener's `stick_found` line to its `applied` line (source stick). Never a pass/fail:
# the number depends on the machine's load (docs/test-matrix.md §4).
#
# Usage: bash scripts/bench-stick.sh [ATTUNE_BIN] [ATTUNE_CLOUD_BIN] [ROUNDS]
#   defaults: target/release/attune, target/debug/attune-cloud, 20
#   (cargo build --release -p attune-cli --bin attune; cargo build -p attune-cloud)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
attune="$(readlink -f "${1:-$target/release/attune}")"
cloud="$(readlink -f "${2:-$target/debug/attune-cloud}")"
rounds="${3:-20}"
[ -x "$attune" ] || { echo "no attune at $attune" >&2; exit 1; }
[ -x "$cloud" ] || { echo "no attune-cloud at $cloud" >&2; exit 1; }
echo "== stick seen → applied: $attune, $rounds insertions, load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec python3 - "$attune" "$cloud" "$rounds" "$PWD/snapsets/low_vision_combined.json5" <<'PY'
import os, sys, subprocess, tempfile, socket, threading, time, json, shutil, queue
ATT, CLOUD, ROUNDS, SNAPSET = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
root = tempfile.mkdtemp()
children = []
try:
    def env_for(home):
        e = {k: v for k, v in os.environ.items() if not k.startswith(('ATTUNE_', 'XDG_', 'GSETTINGS', 'RUST_LOG'))}
        for d in ['home', 'config', 'data', 'state', 'cache', 'runtime']:
            os.makedirs(f'{home}/{d}', exist_ok=True)
        e.update(HOME=f'{home}/home', XDG_CONFIG_HOME=f'{home}/config', XDG_DATA_HOME=f'{home}/data',
                 XDG_STATE_HOME=f'{home}/state', XDG_CACHE_HOME=f'{home}/cache', XDG_RUNTIME_DIR=f'{home}/runtime',
                 GSETTINGS_BACKEND='keyfile', ATTUNE_PROFILE='development')
        return e
    # the cloud, with Sam
    cd = f'{root}/cloud'; os.makedirs(cd)
    shutil.copy(SNAPSET, f'{cd}/sam-0c9e41d7.json5')
    store = f'sqlite:{cd}/cloud.sqlite'
    cloud = subprocess.Popen([CLOUD, 'serve', '--store', store, '--listen', '127.0.0.1:0', '--dev'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    children.append(cloud)
    url = None
    for line in cloud.stdout:
        try: v = json.loads(line)
        except Exception: continue
        if 'listening' in str(v.get('message', '')) and v.get('addr'):
            url = 'http://' + v['addr']; break
    subprocess.run([CLOUD, 'load', '--store', store, '--as', 'user', f'{cd}/sam-0c9e41d7.json5'], check=True, capture_output=True)
    home = f'{root}/a'; e = env_for(home); e['ATTUNE_CLOUD_URL'] = url
    stick = f'{root}/SAMSTICK'; os.makedirs(stick)
    subprocess.run([ATT, 'key-in', 'sam-0c9e41d7'], env=e, check=True, capture_output=True)
    subprocess.run([ATT, 'stick', 'write', '--to', stick], env=e, check=True, capture_output=True)
    subprocess.run([ATT, 'key-out'], env=e, check=True, capture_output=True)
    cloud.kill()
    # blackhole: accepts, never answers
    bh = socket.socket(); bh.bind(('127.0.0.1', 0)); bh.listen(100); held = []
    threading.Thread(target=lambda: [held.append(bh.accept()) for _ in iter(int, 1)], daemon=True).start()
    fresh = f'{root}/b'; e = env_for(fresh); e['ATTUNE_CLOUD_URL'] = f'http://127.0.0.1:{bh.getsockname()[1]}'
    os.makedirs(f'{fresh}/config/attune', exist_ok=True)
    open(f'{fresh}/config/attune/attune.toml', 'w').write('[resilience]\nconnect_timeout_ms = 500\nattempt_timeout_ms = 800\ndeadline_ms = 1500\nmax_attempts = 1\n')
    media = f'{fresh}/media'; os.makedirs(media)
    lst = subprocess.Popen([ATT, 'listen', '--no-local-api', '--poll-ms', '250', '--usb-root', media], env=e, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    children.append(lst)
    q = queue.Queue()
    threading.Thread(target=lambda: [q.put((time.monotonic(), l)) for l in lst.stdout], daemon=True).start()
    def wait(ev):
        while True:
            t, l = q.get(timeout=30)
            try: v = json.loads(l)
            except Exception: continue
            if v.get('event') == ev: return t, v
    wait('listening')
    res = []
    for i in range(ROUNDS):
        st = f'{fresh}/staging'; shutil.copytree(stick, st)
        os.rename(st, f'{media}/SAMSTICK')
        t0, _ = wait('stick_found'); t1, v = wait('applied'); wait('keyed_in')
        assert v['source'] == 'stick', v
        res.append((t1 - t0) * 1000)
        shutil.rmtree(f'{media}/SAMSTICK'); wait('keyed_out')
    lst.kill()
    print('in order:', ' '.join(f'{x:.0f}' for x in res)); res.sort()
    print('stick seen -> applied (ms):', ' '.join(f'{x:.0f}' for x in res), f'median {res[len(res)//2]:.0f}')
finally:
    for c in children:
        c.kill()
    shutil.rmtree(root, ignore_errors=True)
PY
