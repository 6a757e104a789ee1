//! A throw-away desktop (temp HOME, XDG dirs, GSettings keyfile backend, a test schema) and the
//! child-process driver.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use attune_model::lifecycle::{
    HandlerInstructions, LaunchInstruction, LifecycleInstructions, SolutionInstructions,
};
use attune_settings::failpoint::{CRASH_ENV, PAUSE_DIR_ENV, PAUSE_ENV};
use attune_settings::lifecycle::Lifecycle;
use attune_testkit::KeyfileDesktop;
use serde_json::{json, Value};

const OP: &str = "ATTUNE_SETTINGS_CHILD_OP";
const INSTR: &str = "ATTUNE_SETTINGS_CHILD_INSTR";
const OUT: &str = "ATTUNE_SETTINGS_CHILD_OUT";
const DATA: &str = "ATTUNE_SETTINGS_CHILD_DATA";

/// A schema with one key of each kind the handler converts, compiled per desktop.
const TEST_SCHEMA: &str = r#"<schemalist>
  <enum id="org.attune.test.Mode"><value nick="low" value="0"/><value nick="high" value="1"/></enum>
  <schema id="org.attune.test" path="/org/attune/test/">
    <key name="flag" type="b"><default>false</default></key>
    <key name="count" type="i"><range min="0" max="100"/><default>10</default></key>
    <key name="unsigned" type="u"><default>1</default></key>
    <key name="ratio" type="d"><default>1.0</default></key>
    <key name="name" type="s"><default>''</default></key>
    <key name="mode" enum="org.attune.test.Mode"><default>'low'</default></key>
    <key name="list" type="as"><default>[]</default></key>
    <key name="pair" type="(ii)"><default>(0, 0)</default></key>
    <key name="dict" type="a{sv}"><default>{}</default></key>
  </schema>
</schemalist>
"#;

pub use attune_testkit::desktop::Snapshot;

/// The kit's keyfile desktop with the test schema, and Attune's data dir (`attune/`).
pub struct Desk {
    desk: KeyfileDesktop,
}

impl std::ops::Deref for Desk {
    type Target = KeyfileDesktop;
    fn deref(&self) -> &KeyfileDesktop {
        &self.desk
    }
}

impl Desk {
    pub fn new() -> Desk {
        let desk = KeyfileDesktop::with_schema("org.attune.test", TEST_SCHEMA);
        std::fs::create_dir_all(desk.path("attune")).unwrap();
        Desk { desk }
    }

    /// Attune's data dir (the journal's).
    pub fn journal_dir(&self) -> PathBuf {
        self.path("attune")
    }

    pub fn journal_file(&self) -> PathBuf {
        Lifecycle::new(self.journal_dir()).journal_path()
    }

    /// Runs one lifecycle operation in a child process; `Ok(json)` is its report.
    pub fn run(&self, op: &str, instr: &LifecycleInstructions) -> Result<Value, String> {
        let o = self.run_raw(op, instr, &[]);
        assert!(
            o.status.success(),
            "child {op} failed: {:?}\n{}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        self.child_report()
    }

    pub fn run_raw(&self, op: &str, instr: &LifecycleInstructions, env: &[(&str, &str)]) -> Output {
        self.child(op, instr, env).output().unwrap()
    }

    /// Runs one lifecycle operation in a child process, which must die by SIGKILL at the
    /// failpoint `step`.
    pub fn crash(&self, op: &str, instr: &LifecycleInstructions, step: &str) {
        let o = self.run_raw(op, instr, &[(CRASH_ENV, step)]);
        attune_testkit::process::assert_killed(&o, &format!("{op} at {step}"));
    }

    /// The child process for one lifecycle operation, not started (its report: `child_report`).
    pub fn child(&self, op: &str, instr: &LifecycleInstructions, env: &[(&str, &str)]) -> Command {
        let instr_path = self.path("child-instr.json");
        std::fs::write(&instr_path, serde_json::to_vec(instr).unwrap()).unwrap();
        let _ = std::fs::remove_file(self.path("child-out.json"));
        let mut c = self.command(std::env::current_exe().unwrap());
        c.args([
            "child_driver",
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env(OP, op)
        .env(INSTR, &instr_path)
        .env(OUT, self.path("child-out.json"))
        .env(DATA, self.journal_dir());
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// Starts one lifecycle operation in a child process that pauses at the failpoint `step`
    /// (`ATTUNE_TEST_PAUSE_AT`), and waits until it has paused there; [`Desk::go`] lets it
    /// finish.
    pub fn paused(&self, op: &str, instr: &LifecycleInstructions, step: &str) -> Child {
        let pause = self.path("pause");
        std::fs::create_dir_all(&pause).unwrap();
        let child = self
            .child(
                op,
                instr,
                &[(PAUSE_ENV, step), (PAUSE_DIR_ENV, pause.to_str().unwrap())],
            )
            .spawn()
            .unwrap();
        // The child aborts itself if nobody says go within a minute.
        let deadline = Instant::now() + Duration::from_secs(60);
        while !pause.join("paused").exists() {
            assert!(
                Instant::now() < deadline,
                "the child never paused at {step}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child
    }

    /// Lets the child that [`Desk::paused`] started go on; its report, once it has exited.
    pub fn go(&self, child: Child) -> Value {
        std::fs::write(self.path("pause/go"), b"").unwrap();
        let o = child.wait_with_output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        self.child_report().unwrap()
    }

    /// The report of the last child operation, `Ok` or `Err(message)`.
    pub fn child_report(&self) -> Result<Value, String> {
        let out: Value =
            serde_json::from_slice(&std::fs::read(self.path("child-out.json")).unwrap()).unwrap();
        match out.get("ok") {
            Some(v) => Ok(v.clone()),
            None => Err(out["err"].as_str().unwrap_or_default().to_owned()),
        }
    }

    pub fn apply(&self, instr: &LifecycleInstructions) -> Value {
        self.run("apply", instr).unwrap()
    }

    pub fn restore(&self) -> Value {
        self.run("restore", &LifecycleInstructions::default())
            .unwrap()
    }

    pub fn recover(&self) -> Value {
        self.run("recover", &LifecycleInstructions::default())
            .unwrap()
    }

    /// What `attune_settings::reading::read` finds with the bundled registry, every solution
    /// counted as installed: `{"reading", "problems"}`.
    pub fn read(&self) -> Value {
        self.run("read", &LifecycleInstructions::default()).unwrap()
    }

    pub fn status(&self) -> Value {
        self.run("status", &LifecycleInstructions::default())
            .unwrap()
    }
}

/// One settings handler: `(solution, handler_type, options, settings)`.
pub type Handler<'a> = (&'a str, &'a str, Value, Value);

/// Instructions builder: one settings handler each.
pub fn instructions(handlers: &[Handler]) -> LifecycleInstructions {
    let mut li = LifecycleInstructions::default();
    for (sol, ty, options, settings) in handlers {
        let settings: BTreeMap<String, Value> = serde_json::from_value(settings.clone()).unwrap();
        let s = li.solutions.entry((*sol).to_owned()).or_default();
        let name = format!("h{}", s.settings_handlers.len());
        s.settings_handlers.insert(
            name,
            HandlerInstructions {
                handler_type: (*ty).to_owned(),
                options: options.clone(),
                settings,
                provenance: BTreeMap::new(),
            },
        );
    }
    li
}

/// Instructions that set the desktop's cursor size, and nothing else.
pub fn cursor_size(size: u32) -> LifecycleInstructions {
    instructions(&[gsettings(
        "i",
        "org.gnome.desktop.interface",
        json!({ "cursor-size": size }),
    )])
}

/// Adds a `gpii.gsettings.launch` instruction.
pub fn with_launch(
    mut li: LifecycleInstructions,
    sol: &str,
    schema: &str,
    key: &str,
    enabled: bool,
) -> LifecycleInstructions {
    let s: &mut SolutionInstructions = li.solutions.entry(sol.to_owned()).or_default();
    s.launch = Some(LaunchInstruction {
        handler_type: "gpii.gsettings.launch".to_owned(),
        options: json!({"schema": schema, "key": key}),
        enabled,
    });
    li
}

/// A `gpii.gsettings` handler of `schema` in solution `sol`, for [`instructions`].
pub fn gsettings<'a>(sol: &'a str, schema: &str, settings: Value) -> Handler<'a> {
    (sol, "gpii.gsettings", json!({ "schema": schema }), settings)
}

/// The outcome kinds of a report's settings, by setting name.
pub fn kinds(report: &Value) -> BTreeMap<String, String> {
    report["settings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["setting"].as_str().unwrap().to_owned(),
                s["outcome"]["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

pub fn child_main() {
    let Ok(op) = std::env::var(OP) else { return };
    let data = PathBuf::from(std::env::var(DATA).unwrap());
    let out = PathBuf::from(std::env::var(OUT).unwrap());
    let instr: LifecycleInstructions = match std::env::var(INSTR) {
        Ok(p) => serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap(),
        Err(_) => LifecycleInstructions::default(),
    };
    let life = Lifecycle::new(data);
    let v = match op.as_str() {
        "apply" => report(life.apply(&instr)),
        "restore" => report(life.restore()),
        "recover" => report(life.recover()),
        "status" => report(life.status()),
        "read" => {
            let reg = attune_model::bundled::linux_registry().unwrap();
            let device = attune_model::device::DeviceReport::linux(reg.solutions.keys().cloned());
            let r = attune_settings::reading::read(&reg, &device);
            json!({"ok": {"reading": r.reading, "problems": r.problems}})
        }
        other => panic!("unknown child op {other}"),
    };
    std::fs::write(out, serde_json::to_vec(&v).unwrap()).unwrap();
}

/// A child operation's result as [`Desk::child_report`] reads it: `{"ok": report}` or
/// `{"err": message}`.
fn report<T: serde::Serialize, E: std::fmt::Display>(r: Result<T, E>) -> Value {
    match r {
        Ok(report) => json!({ "ok": report }),
        Err(e) => json!({ "err": e.to_string() }),
    }
}
