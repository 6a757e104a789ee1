//! `attune`: key in and out, status, recovery and diagnostics, for testers and administrators.
//! Thin: parses arguments, calls `attune-flow`, prints plain text or `--json`.

use std::io::Write;
use std::process::ExitCode;

use attune_flow::Message;
use attune_flow::{Flow, FlowError, Profile};
use attune_flow::{KeyInOutcome, RecoverOutcome, Status};
use attune_flow::{Outcome, ReportRow};
use clap::{Parser, Subcommand, ValueEnum};
use serde::Serialize;

/// Writes a line of the answer to stdout. A reader that has gone away (`attune snapsets | head -1`)
/// is not an error and not a panic, as `println!` would make it: the rest of the answer is
/// dropped, and the command finishes and exits with its own code.
macro_rules! say {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// [`say!`] without the line end.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  an unexpected error (the message says what); for `snapsets check`: problems found
  2  bad command line
  3  keyed in, but some settings failed (the report says which)
  4  busy: another Attune process is keying in or out
  5  invalid configuration (the message names the file and the field), or a snapset file
     that cannot be used or has another's name (the message names the files)
  6  unknown or invalid key / snapset
  7  some settings could not be put back (they stay in the journal and are retried)
  8  the settings journal could not be written, or is damaged (see recover
     --discard-journal), so nothing was changed
  9  nobody is keyed in
 10  the cloud cannot be reached and nothing could be applied (no saved settings, no snapset)
 11  the change is applied here only: the settings come from a snapset, which is read-only;
     for `capture --save`: nothing saved, there is nowhere to save to (a snapset session,
     or the testing profile)
 12  the change is applied here (or captured) but not yet saved (kept, and saved later)
 13  forget: changes not yet saved would be lost (they are listed; --yes drops them), so
     nothing was forgotten
 14  stick write: the USB key could not be written (not mounted, read-only, full, or it holds
     another person's key); the message says which";

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

#[derive(Subcommand)]
enum SnapsetsAction {
    /// Check snapset files as a linter would (exit 0: all good, 1: problems): JSON5 syntax with
    /// line and column, GPII's `flat` structure, a display name and a comment header, a file name
    /// that is a key, every term known to this computer's registry, every value within its
    /// setting's range.
    Check {
        /// Snapset files, or folders (every *.json5 in them).
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
    },
    /// Write the accessibility settings set on this computer now as a new snapset file NAME.json5
    /// (see `attune capture`), with a comment header saying when and from what it was made. The
    /// checker accepts what it writes. An existing file is kept (exit 1) unless --force.
    New {
        /// The snapset's name, which is also its key (plain words joined by `_`).
        name: String,
        /// Capture the desktop (the only source for now; required, so the command says what it
        /// does).
        #[arg(long, required = true)]
        from_desktop: bool,
        /// The folder to write to (default: your snapset folder, ~/.config/attune/snapsets).
        #[arg(long, value_name = "DIR")]
        to: Option<std::path::PathBuf>,
        /// Replace a snapset file of that name.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum StickAction {
    /// Write the key of the person keyed in (.gpii-user-token.txt) and their preferences,
    /// sealed under that key (.attune/preferences.sealed: nothing in it is readable without the
    /// key), to the USB key mounted at DIR. Each file is replaced whole or not at all.
    Write {
        /// The USB key's folder (e.g. /media/$USER/STICK).
        #[arg(long, value_name = "DIR")]
        to: std::path::PathBuf,
    },
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
    /// List the snapsets (fixed, read-only preference sets): the bundled ones, the site's folder
    /// (/etc/attune/snapsets, or [snapsets] site_dir in the site file) and yours
    /// (~/.config/attune/snapsets), with where each comes from.
    Snapsets {
        #[command(subcommand)]
        action: Option<SnapsetsAction>,
    },
    /// Key in: apply a person's preferences to this computer (in the testing profile, KEY names
    /// a snapset).
    KeyIn {
        /// The key (a snapset name in the testing profile, e.g. snapset_1a). With --stick, read
        /// from the stick's .gpii-user-token.txt when not given.
        #[arg(required_unless_present = "stick")]
        key: Option<String>,
        /// The folder of a USB key (stick) the key is on, as the USB listener passes it: where
        /// the preferences server cannot answer, the preferences sealed on it (`attune stick
        /// write`) are applied when they are newer than this computer's saved ones.
        #[arg(long, value_name = "DIR")]
        stick: Option<std::path::PathBuf>,
    },
    /// The portable key: your preferences sealed on your USB key, for computers that cannot
    /// reach the preferences server (docs/design.md §10.3).
    Stick {
        #[command(subcommand)]
        action: StickAction,
    },
    /// Key out: put every changed setting back exactly as it was.
    KeyOut,
    /// The record of test sessions (testing profile only): every key-in with its snapset file,
    /// the file's SHA-256, each setting's outcome and the time to applied; every key-out and
    /// every restore of an interrupted session, with what was put back.
    Report {
        /// Only sessions from this day on (YYYY-MM-DD, UTC).
        #[arg(long, value_parser = parse_day)]
        since: Option<u64>,
        /// Comma-separated values, one row a record, for a spreadsheet.
        #[arg(long)]
        csv: bool,
    },
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
    /// Show the accessibility settings set on this computer now, as preferences: only values
    /// someone set (never defaults), read through this computer's solutions registry and turned
    /// back into common terms; a setting with no common term is kept as the application's own.
    /// Changes nothing. See docs/capture.md.
    Capture {
        /// Save them as the preferences of the person keyed in (through the cloud, or kept
        /// until it can be, as `set` does). Needs a cloud session: in the testing profile or a
        /// snapset session it is refused (exit 11).
        #[arg(long)]
        save: bool,
    },
    /// Log out and back in with a fresh sign-in, then save any unsaved changes (the one click
    /// after "Something has gone wrong. Please log out and log back in.").
    Relogin,
    /// Show what this computer supports, and why.
    Doctor,
    /// Forget a person: on this computer their saved settings and unsent changes (keyed in, they
    /// are keyed out first and the computer put back); with --everywhere the preferences server
    /// first forgets their key (it deletes their preferences after its grace period, which is
    /// said). Unsent changes are listed and nothing is forgotten unless --yes (exit 13).
    Forget {
        /// The key (`-` reads it from standard input, out of `ps` and the shell's history);
        /// default: the person keyed in.
        key: Option<String>,
        /// This computer only.
        #[arg(
            long,
            conflicts_with = "everywhere",
            required_unless_present = "everywhere"
        )]
        this_computer: bool,
        /// The preferences server too, then this computer.
        #[arg(long)]
        everywhere: bool,
        /// Drop changes not yet saved rather than refuse.
        #[arg(long)]
        yes: bool,
    },
    /// Run the key-in listeners headless (kiosks, tests): the USB-stick token listener and GPII's
    /// local API on loopback. Prints one JSON line per event; stops on Ctrl-C or SIGTERM. The app
    /// runs the same listeners itself: only one process may, so this refuses (exit 1, naming the
    /// app's pid) while the app runs them.
    Listen(ListenArgs),
    /// Run Attune in the tray without its window: the listeners, a shared computer's rules,
    /// notifications and a tray icon, in a few MB (no GTK, no WebKit). `attune-app --background`
    /// (the login autostart entry) becomes this; "Open" in its menu, or starting attune-app,
    /// hands over to the app's window in the same process. Logs to the app's log file.
    Tray,
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
    if let Command::Tray = cli.command {
        let code = attune_tray::host::main(cli.profile.map(Into::into));
        return ExitCode::from(u8::try_from(code).unwrap_or(1));
    }
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
        Command::Snapsets { .. } | Command::Recover { .. } | Command::Report { .. } => None,
        _ => flow.resume()?,
    };
    if let Some(r) = &resumed {
        if !cli.json {
            say!("{}", r.message_text);
        }
    }
    match &cli.command {
        Command::Snapsets { action: None } => {
            let list = flow.snapsets()?;
            if cli.json {
                print_json(&list);
            } else {
                print_snapsets(&list);
            }
            Ok(0)
        }
        Command::Snapsets {
            action: Some(SnapsetsAction::Check { paths }),
        } => {
            let reports = flow.check_snapsets(paths);
            if cli.json {
                print_json(&reports);
            } else {
                print_check(&reports);
            }
            Ok(if reports.iter().all(|r| r.ok()) { 0 } else { 1 })
        }
        Command::Snapsets {
            action:
                Some(SnapsetsAction::New {
                    name,
                    from_desktop: _,
                    to,
                    force,
                }),
        } => {
            let out = flow.new_snapset_from_desktop(name, to.as_deref(), *force)?;
            if cli.json {
                print_json(&out);
            } else {
                print_captured(&out.lines, &out.skipped);
                say!(
                    "{}",
                    Message::CliSnapsetWritten.with(&[("file", &out.file)])
                );
            }
            Ok(0)
        }
        Command::KeyIn { key, stick } => {
            let mut out = match (key, stick) {
                (Some(k), Some(dir)) => flow.key_in_with_stick(k, dir)?,
                (None, Some(dir)) => {
                    let token = dir.join(attune_flow::stick::TOKEN_FILE);
                    let k = attune_listen::usb::read_token(&token).map_err(|e| {
                        FlowError::NotAvailable {
                            what: format!("a key on {} ({e})", dir.display()),
                        }
                    })?;
                    flow.key_in_with_stick(k.expose(), dir)?
                }
                (Some(k), None) => flow.key_in(k)?,
                (None, None) => return Err(FlowError::NotKeyedIn),
            };
            out.key = shown_key(&out.key, cli.json);
            let code = if out.counts.failed > 0 { 3 } else { 0 };
            if cli.json {
                print_json(&out);
            } else {
                print_key_in(&out);
            }
            Ok(code)
        }
        Command::Report { since, csv } => {
            let (records, unreadable) = flow.test_sessions(*since)?;
            if cli.json {
                print_json(&records);
            } else if *csv {
                print_report_csv(&records);
            } else {
                print_report(&records);
            }
            if unreadable > 0 {
                eprintln!("attune: {unreadable} line(s) of the record could not be read (skipped)");
            }
            Ok(0)
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
                say!(
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
        Command::Listen(_) | Command::Tray => Ok(0),
        Command::Set { term, value } => {
            let v = serde_json::from_str(value)
                .unwrap_or_else(|_| serde_json::Value::String(value.clone()));
            let out = flow.set(term, v)?;
            if cli.json {
                print_json(&out);
            } else {
                print_rows(&out.applied);
                say!("{}", out.message);
            }
            Ok(match out.save_state.state.as_str() {
                "read_only" => 11,
                _ if out.saved => 0,
                _ => 12,
            })
        }
        Command::Capture { save: false } => {
            let out = flow.capture()?;
            if cli.json {
                print_json(&out);
            } else {
                print_captured(&out.lines, &out.skipped);
                if out.lines.is_empty() {
                    say!("{}", Message::CaptureNothing.text());
                }
            }
            Ok(0)
        }
        Command::Capture { save: true } => {
            let out = flow.save_capture(None)?;
            if cli.json {
                print_json(&out);
            } else {
                print_captured(&out.lines, &out.skipped);
                say!("{}", out.message);
            }
            Ok(if out.saved { 0 } else { 12 })
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
        Command::Forget {
            key,
            this_computer: _,
            everywhere,
            yes,
        } => {
            let key = match key.as_deref() {
                Some("-") => Some(read_key_from_stdin()?),
                other => other.map(str::to_owned),
            };
            let reach = if *everywhere {
                attune_flow::ForgetReach::Everywhere
            } else {
                attune_flow::ForgetReach::ThisComputer
            };
            let out = flow.forget(key.as_deref(), reach, *yes)?;
            if cli.json {
                print_json(&out);
            } else {
                if !out.unsent_dropped.is_empty() {
                    say!(
                        "Dropped {} change(s) not yet saved: {}",
                        out.unsent_dropped.len(),
                        out.unsent_dropped.join(", ")
                    );
                }
                say!("{}", out.message_text);
            }
            Ok(0)
        }
        Command::Stick {
            action: StickAction::Write { to },
        } => {
            let out = flow.write_stick(to)?;
            if cli.json {
                print_json(&out);
            } else {
                say!("{}", out.message_text);
            }
            Ok(0)
        }
        Command::Doctor => {
            let d = flow.doctor()?;
            if cli.json {
                print_json(&d);
            } else {
                say_raw!("{}", d.to_text());
            }
            Ok(0)
        }
    }
}

mod listen;

/// A key from standard input (its first line, trimmed): keeps it out of `ps` and the history.
fn read_key_from_stdin() -> Result<String, FlowError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| FlowError::NotAvailable {
            what: format!("reading the key from standard input ({e})"),
        })?;
    Ok(line.trim().to_owned())
}

/// `--since YYYY-MM-DD`: the Unix time that day begins (UTC).
fn parse_day(s: &str) -> Result<u64, String> {
    let bad = || format!("`{s}` is not a day written YYYY-MM-DD");
    let mut parts = s.splitn(3, '-');
    let mut next = || {
        parts
            .next()
            .and_then(|p| p.parse::<i64>().ok())
            .ok_or_else(bad)
    };
    let (y, m, d) = (next()?, next()?, next()?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1970 {
        return Err(bad());
    }
    let days = attune_model::civil::days_from_civil(y, m as u32, d as u32);
    u64::try_from(days * 86_400).map_err(|_| bad())
}

/// `attune report`: one line a record, then the settings that did not apply.
fn print_report(records: &[attune_flow::TestRecord]) {
    if records.is_empty() {
        say!("No test sessions recorded.");
    }
    for r in records {
        let what = r.snapset.as_deref().unwrap_or("(unknown snapset)");
        let from = match (&r.origin, &r.file, &r.sha256) {
            (Some(o), Some(f), Some(h)) => {
                format!(" ({}: {f}, sha256 {})", o.as_str(), &h[..h.len().min(12)])
            }
            _ => String::new(),
        };
        let how = match (r.event, &r.restore, &r.interrupted) {
            (attune_flow::TestEvent::KeyIn, _, _) => {
                let c = r
                    .settings
                    .iter()
                    .filter(|s| s.outcome == attune_flow::Outcome::Applied)
                    .count();
                format!(
                    "{c} of {} applied in {} ms",
                    r.settings.len(),
                    r.applied_ms.unwrap_or(0)
                )
            }
            (_, Some(rs), i) => format!(
                "{} put back{}{}",
                rs.restored,
                match rs.failed.len() {
                    0 => String::new(),
                    n => format!(", {n} could not be (still in the journal)"),
                },
                i.as_ref()
                    .map(|i| format!(" (interrupted while {i})"))
                    .unwrap_or_default()
            ),
            _ => String::new(),
        };
        say!("{}  {:9} {what}{from}  {how}", r.at, r.event.as_str());
        for s in r
            .settings
            .iter()
            .filter(|s| s.outcome != attune_flow::Outcome::Applied)
        {
            say!(
                "    {} {}: {}{}",
                s.solution,
                s.setting,
                s.outcome.as_str(),
                s.reason
                    .as_deref()
                    .map(|x| format!(" ({x})"))
                    .unwrap_or_default()
            );
        }
    }
}

/// `attune report --csv`: a header, then one row a record.
fn print_report_csv(records: &[attune_flow::TestRecord]) {
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    say!("at,event,snapset,origin,file,sha256,applied,not_applied,applied_ms,restored,not_restored,interrupted");
    for r in records {
        let applied = r
            .settings
            .iter()
            .filter(|s| s.outcome == attune_flow::Outcome::Applied)
            .count();
        let cols = [
            r.at.clone(),
            r.event.as_str().to_owned(),
            r.snapset.clone().unwrap_or_default(),
            r.origin.map(|o| o.as_str().to_owned()).unwrap_or_default(),
            r.file.clone().unwrap_or_default(),
            r.sha256.clone().unwrap_or_default(),
            applied.to_string(),
            (r.settings.len() - applied).to_string(),
            r.applied_ms.map(|m| m.to_string()).unwrap_or_default(),
            r.restore
                .as_ref()
                .map(|x| x.restored.to_string())
                .unwrap_or_default(),
            r.restore
                .as_ref()
                .map(|x| x.failed.len().to_string())
                .unwrap_or_default(),
            r.interrupted.clone().unwrap_or_default(),
        ];
        say!(
            "{}",
            cols.iter().map(|c| field(c)).collect::<Vec<_>>().join(",")
        );
    }
}

/// `attune snapsets`: key, name, and where a folder snapset comes from; what is wrong with one
/// that cannot be used.
fn print_snapsets(list: &[attune_flow::SnapsetInfo]) {
    let w = list.iter().map(|s| s.key.len()).max().unwrap_or(0);
    for s in list {
        let from = match s.origin {
            attune_flow::SnapsetOrigin::Bundled => String::new(),
            o => format!("  ({}: {})", o.as_str(), s.file),
        };
        say!("{:w$}  {}{from}", s.key, s.name);
        if let Some(p) = &s.problem {
            say!("{:w$}  cannot be used: {p}", "");
        }
    }
}

/// `attune snapsets check`: one line a problem, as compilers write them, then a summary.
fn print_check(reports: &[attune_flow::SnapsetReport]) {
    for r in reports {
        for p in &r.problems {
            say!(
                "{}:{}:{}: {}: {}",
                r.file,
                p.line,
                p.column,
                p.rule,
                p.message
            );
        }
    }
    let bad = reports.iter().filter(|r| !r.ok()).count();
    say!("{} file(s) checked, {} with problems", reports.len(), bad);
}

fn print_json<T: Serialize>(v: &T) {
    let mut out = std::io::stdout().lock();
    let _ = serde_json::to_writer_pretty(&mut out, v);
    let _ = writeln!(out);
}

/// A capture in words, then what was read but not kept.
fn print_captured(lines: &[attune_flow::CapturedLine], skipped: &[ReportRow]) {
    if !lines.is_empty() {
        say!("{}", Message::CliCaptured.text());
        for l in lines {
            say!("  {}: {}", l.label, l.value);
        }
    }
    if !skipped.is_empty() {
        say!("{}", Message::CliCaptureSkipped.text());
        print_rows(skipped);
    }
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
        say!("  {mark:19} {what}{value}{reason}");
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
        say!("{}", f.message_text);
    }
    say!(
        "{}",
        Message::CliKeyedIn.with(&[
            ("key", &out.key),
            ("name", &named(out.name.as_deref())),
            ("source", &out.source.as_str()),
        ])
    );
    print_rows(&out.applied);
    say!(
        "{}",
        Message::CliCounts.with(&[
            ("applied", &out.counts.applied),
            ("not_supported", &out.counts.not_supported),
            ("failed", &out.counts.failed),
        ])
    );
    say!("{}", out.message_text);
}

fn print_recover(json: bool, out: &RecoverOutcome) {
    if json {
        print_json(out);
    } else {
        say!(
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
    say!("{:8} {value}", label.text());
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
        say!("{}", Message::CliApplied.text());
        print_rows(&st.applied);
    }
}
