//! `attune`: key in and out, status, recovery and diagnostics, for testers and administrators.
//! Thin: parses arguments, calls `attune-flow`, prints plain text or `--json`.

use std::io::Write;
use std::process::ExitCode;

use attune_flow::messages::Message;
use attune_flow::report::{Outcome, ReportRow};
use attune_flow::{Flow, FlowError, Profile};
use attune_flow::{KeyInOutcome, RecoverOutcome, Status};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  an unexpected error (the message says what)
  2  bad command line
  3  keyed in, but some settings failed (the report says which)
  4  busy: another Attune process is keying in or out
  5  invalid configuration (the message names the file and the field)
  6  unknown or invalid key / snapset
  7  some settings could not be put back (they stay in the journal and are retried)
  8  the settings journal could not be written, or is damaged (see recover
     --discard-journal), so nothing was changed
  9  nobody is keyed in
 10  the cloud cannot be reached and nothing could be applied (no saved settings, no snapset)
 11  the change is applied here only: the settings come from a snapset, which is read-only
 12  the change is applied here but not yet saved (kept, and saved later)";

#[derive(Parser)]
#[command(
    name = "attune",
    version,
    about = "Carry your accessibility preferences to this computer, and put it back when you leave.",
    after_help = EXIT_CODES
)]
struct Cli {
    /// Configuration profile: testing (no network, bundled snapsets), development, production.
    #[arg(long, global = true, env = "ATTUNE_PROFILE", value_enum)]
    profile: Option<ProfileArg>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Also write log lines to stderr: -v warnings and progress, -vv debugging detail, -vvv
    /// everything. `RUST_LOG` overrides it. Without either, only the answer meant for you.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum ProfileArg {
    Testing,
    Development,
    Production,
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Self {
        match p {
            ProfileArg::Testing => Profile::Testing,
            ProfileArg::Development => Profile::Development,
            ProfileArg::Production => Profile::Production,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// List the snapsets bundled with Attune (fixed, read-only preference sets).
    Snapsets,
    /// Key in: apply a person's preferences to this computer (in the testing profile, KEY names
    /// a snapset).
    KeyIn {
        /// The key (a snapset name in the testing profile, e.g. snapset_1a).
        key: String,
    },
    /// Key out: put every changed setting back exactly as it was.
    KeyOut,
    /// Show who is keyed in, what was applied and from where, and the journal state.
    Status,
    /// Put back anything a crashed or killed Attune left changed.
    Recover {
        /// When the settings journal is damaged from its start (nothing in it can be read, and
        /// every key-in is refused): keep it aside as settings.journal.damaged-<unix time>
        /// and start afresh. Nothing is put back. A readable journal is never discarded.
        #[arg(long)]
        discard_journal: bool,
    },
    /// Change one preference of the person keyed in: applied now, then saved to the cloud, or
    /// kept (encrypted) until it can be ("not yet saved"). Snapsets are read-only.
    Set {
        /// A common term: a short name such as fontSize, or a full
        /// http://registry.gpii.net/... URI.
        term: String,
        /// The value, as JSON (24, true, "proportional"); anything else is taken as text.
        value: String,
    },
    /// Log out and back in with a fresh sign-in, then save any unsaved changes (the one click
    /// after "Something has gone wrong. Please log out and log back in.").
    Relogin,
    /// Show what this computer supports, and why.
    Doctor,
    /// Run the key-in listeners headless (kiosks, tests): the USB-stick token listener and GPII's
    /// local API on loopback. Prints one JSON line per event; stops on Ctrl-C or SIGTERM. The app
    /// runs the same listeners itself: only one process may, so this refuses (exit 1, naming the
    /// app's pid) while the app runs them.
    Listen(ListenArgs),
}

#[derive(clap::Args)]
struct ListenArgs {
    /// Mount root to watch for sticks holding .gpii-user-token.txt (repeatable; default
    /// `[usb] roots` from the configuration, else /media/$USER and /run/media/$USER).
    #[arg(long = "usb-root", value_name = "DIR")]
    usb_roots: Vec<std::path::PathBuf>,
    /// Do not watch for USB sticks (also off with `[usb] enabled = false`).
    #[arg(long)]
    no_usb: bool,
    /// Address of the local API (loopback only; default from the configuration, 127.0.0.1:8081;
    /// port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    local_api: Option<std::net::SocketAddr>,
    /// Do not serve the local API.
    #[arg(long)]
    no_local_api: bool,
    /// How often the mount roots are rescanned when no file event arrives, in milliseconds.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    poll_ms: u64,
    /// How often to look for an offline session to reconnect, in milliseconds (then probes back
    /// off 1 s × 1.6 up to 5 minutes while the cloud stays away). Cloud profiles only.
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    reconnect_idle_ms: u64,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    init_logging(log_level(
        cli.verbose,
        matches!(cli.command, Command::Listen(_)),
    ));
    let code = match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            if cli.json {
                print_json(&ErrorJson {
                    error: e.kind(),
                    message: e.to_string(),
                });
            } else {
                eprintln!("attune: {e}");
            }
            e.exit_code()
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Logs go to stderr, and only when asked for (`-v`, or `RUST_LOG`): the answer is a sentence for
/// a person (or JSON for a script), and a log line in front of it ("… WARN attune_flow::cloudflow:
/// cloud key-in failed …") only gets in the way (issue 21). Keys appear only as fingerprints.
fn init_logging(level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// The log level for `-v` given `verbose` times (when `RUST_LOG` does not say). `attune listen`
/// runs unattended, its stdout is its JSON events and its stderr goes to the service's journal,
/// so it keeps its warnings there by default.
fn log_level(verbose: u8, listen: bool) -> &'static str {
    match verbose {
        0 if listen => "warn",
        0 => "off",
        1 => "info",
        2 => "debug",
        _ => "trace",
    }
}

#[derive(Serialize)]
struct ErrorJson {
    error: &'static str,
    message: String,
}

fn run(cli: &Cli) -> Result<i32, FlowError> {
    let flow = Flow::from_env(cli.profile.map(Into::into))?;
    if let Command::Listen(args) = &cli.command {
        return listen::run(flow, args);
    }
    // Every command first finishes what a crashed process left half done.
    let resumed = match &cli.command {
        Command::Snapsets | Command::Recover { .. } => None,
        _ => flow.resume()?,
    };
    if let Some(r) = &resumed {
        if !cli.json {
            println!("{}", r.message_text);
        }
    }
    match &cli.command {
        Command::Snapsets => {
            let list = flow.snapsets()?;
            if cli.json {
                print_json(&list);
            } else {
                let w = list.iter().map(|s| s.key.len()).max().unwrap_or(0);
                for s in list {
                    println!("{:w$}  {}", s.key, s.name);
                }
            }
            Ok(0)
        }
        Command::KeyIn { key } => {
            let mut out = flow.key_in(key)?;
            out.key = shown_key(&out.key, cli.json);
            let code = if out.counts.failed > 0 { 3 } else { 0 };
            if cli.json {
                print_json(&out);
            } else {
                print_key_in(&out);
            }
            Ok(code)
        }
        Command::KeyOut => {
            let out = flow.key_out()?;
            print_recover(cli.json, &out);
            Ok(0)
        }
        Command::Recover {
            discard_journal: true,
        } => {
            let out = flow.discard_damaged_journal()?;
            if cli.json {
                print_json(&out);
            } else {
                println!(
                    "{}",
                    Message::CliKeptAt.with(&[
                        ("message", &out.message_text),
                        ("path", &out.kept_at.display())
                    ])
                );
            }
            Ok(0)
        }
        Command::Recover {
            discard_journal: false,
        } => {
            let out = flow.recover()?;
            print_recover(cli.json, &out);
            Ok(0)
        }
        Command::Status => {
            let mut st = flow.status()?;
            st.key = st.key.map(|k| shown_key(&k, cli.json));
            if cli.json {
                print_json(&st);
            } else {
                print_status(&st);
            }
            Ok(0)
        }
        Command::Listen(_) => Ok(0),
        Command::Set { term, value } => {
            let v = serde_json::from_str(value)
                .unwrap_or_else(|_| serde_json::Value::String(value.clone()));
            let out = flow.set(term, v)?;
            if cli.json {
                print_json(&out);
            } else {
                print_rows(&out.applied);
                println!("{}", out.message);
            }
            Ok(match out.save_state.state.as_str() {
                "read_only" => 11,
                _ if out.saved => 0,
                _ => 12,
            })
        }
        Command::Relogin => {
            let mut out = flow.relogin()?;
            out.key = shown_key(&out.key, cli.json);
            if cli.json {
                print_json(&out);
            } else {
                print_key_in(&out);
            }
            Ok(0)
        }
        Command::Doctor => {
            let d = flow.doctor()?;
            if cli.json {
                print_json(&d);
            } else {
                print!("{}", d.to_text());
            }
            Ok(0)
        }
    }
}

mod listen;

fn print_json<T: Serialize>(v: &T) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = writeln!(out);
}

fn print_rows(rows: &[ReportRow]) {
    for r in rows {
        let value = r
            .value
            .as_ref()
            .map(|v| format!(" = {v}"))
            .unwrap_or_default();
        let reason = r
            .reason
            .as_ref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default();
        let what = if r.solution.is_empty() {
            r.setting.clone()
        } else {
            format!("{} {}", r.solution, r.setting)
        };
        let mark = match r.outcome {
            Outcome::Applied => Message::CliRowApplied,
            Outcome::NotSupported => Message::CliRowNotSupported,
            Outcome::Failed => Message::CliRowFailed,
        }
        .text();
        println!("  {mark:19} {what}{value}{reason}");
    }
}

/// How a key is printed. Kiosk units send stdout to the journal and scripts to their logs, so
/// the key (the person's secret) is printed as typed only to a person at a terminal (stdin and
/// stdout both terminals, and not `--json`); everywhere else as its fingerprint, `key#…`, the
/// same one logs and the listeners' events show.
fn shown_key(key: &str, json: bool) -> String {
    use std::io::IsTerminal;
    let interactive = !json && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    if interactive {
        return key.to_owned();
    }
    attune_model::key::Key::parse(key)
        .map(|k| k.to_string())
        .unwrap_or_else(|_| "key#invalid".to_owned())
}

fn print_key_in(out: &KeyInOutcome) {
    if let Some(f) = &out.finished_first {
        println!("{}", f.message_text);
    }
    println!(
        "{}",
        Message::CliKeyedIn.with(&[
            ("key", &out.key),
            ("name", &named(out.name.as_deref())),
            ("source", &out.source.as_str()),
        ])
    );
    print_rows(&out.applied);
    println!(
        "{}",
        Message::CliCounts.with(&[
            ("applied", &out.counts.applied),
            ("not_supported", &out.counts.not_supported),
            ("failed", &out.counts.failed),
        ])
    );
    println!("{}", out.message_text);
}

fn print_recover(json: bool, out: &RecoverOutcome) {
    if json {
        print_json(out);
    } else {
        println!(
            "{}",
            Message::CliPutBack
                .with(&[("message", &out.message_text), ("restored", &out.restored)])
        );
    }
}

/// "when" for a person: how long ago a unix time was, roughly.
fn ago(unix: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let secs = now.saturating_sub(unix);
    let (m, n) = match secs {
        0..=119 => (Message::CliLastTriedSeconds, secs),
        120..=7199 => (Message::CliLastTriedMinutes, secs / 60),
        _ => (Message::CliLastTriedHours, secs / 3600),
    };
    m.with(&[("n", &n)])
}

/// A session's name, or the word for none.
fn named(name: Option<&str>) -> &str {
    name.unwrap_or(Message::CliUnnamed.text())
}

/// One labelled line of `attune status` (labels padded to one column).
fn field(label: Message, value: &dyn std::fmt::Display) {
    println!("{:8} {value}", label.text());
}

fn print_status(st: &Status) {
    field(Message::CliState, &st.state);
    field(Message::CliProfile, &st.profile);
    if let Some(k) = &st.key {
        field(
            Message::CliKey,
            &format!("{k} ({})", named(st.name.as_deref())),
        );
    }
    if let Some(s) = st.source {
        field(Message::CliSource, &s);
    }
    if let Some(c) = &st.connectivity {
        field(Message::CliCloud, c);
    }
    match (&st.reason, st.last_cloud_failure) {
        (Some(r), Some(at)) => field(Message::CliNetwork, &format!("{r} ({})", ago(at))),
        (Some(r), None) => field(Message::CliNetwork, r),
        _ => {}
    }
    if let Some(m) = &st.message {
        field(Message::CliMessage, m);
    }
    field(
        Message::CliJournal,
        &Message::CliJournalEntries
            .with(&[("journal", &st.journal), ("entries", &st.journal_entries)]),
    );
    if !st.applied.is_empty() {
        println!("{}", Message::CliApplied.text());
        print_rows(&st.applied);
    }
}
