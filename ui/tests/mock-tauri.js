// A stand-in for Tauri's global API (`window.__TAURI__`, withGlobalTauri) for the UI tests.
// Injected before the page's own scripts (Playwright's addInitScript), after a first script that
// sets `window.__ATTUNE_SCENARIO__` to a resolved scenario (see tests/harness.mjs):
//   { status: AppStatus, commands: { <command>: { resolve | reject, then, delay_ms } } }
// where `then` is the AppStatus the shell emits on `attune://status` after the command, as the
// real shell does (docs/app.md). Every invoke is recorded in `window.__ATTUNE_MOCK__.calls`.
(() => {
  const scenario = window.__ATTUNE_SCENARIO__;
  if (!scenario) throw new Error('mock-tauri.js: window.__ATTUNE_SCENARIO__ is not set');
  const copy = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));
  const listeners = new Map();
  const state = { status: copy(scenario.status), calls: [] };

  function emit(name, payload) {
    for (const cb of listeners.get(name) || []) cb({ event: name, id: 0, payload: copy(payload) });
  }

  async function invoke(command, args) {
    state.calls.push({ command, args: copy(args) ?? null });
    const answer = scenario.commands[command];
    // delay_ms: a slow answer (a key-in waiting for the cloud), to show the progress line.
    await new Promise((r) => setTimeout(r, answer?.delay_ms ?? 5));
    if (command === 'get_status') return copy(state.status);
    if (!answer) throw { kind: 'internal', message: `The test mock has no answer for ${command}.` };
    if (answer.only_profile && state.status.profile !== answer.only_profile) return [];
    if (answer.reject) throw copy(answer.reject);
    if (answer.then) {
      state.status = copy(answer.then);
      emit('attune://status', state.status);
    }
    return copy(answer.resolve);
  }

  async function listen(name, cb) {
    if (!listeners.has(name)) listeners.set(name, []);
    listeners.get(name).push(cb);
    return () => listeners.set(name, listeners.get(name).filter((x) => x !== cb));
  }

  window.__TAURI__ = { core: { invoke }, event: { listen } };
  window.__ATTUNE_MOCK__ = {
    calls: state.calls,
    /** Emits a new AppStatus, as the shell does after background changes. */
    emitStatus(status) {
      state.status = copy(status);
      emit('attune://status', state.status);
    },
    /** Emits what a listener saw (`{ kind, text }`), as the shell does on `attune://listener`. */
    emitListener(notice) {
      emit('attune://listener', notice);
    },
  };
})();
