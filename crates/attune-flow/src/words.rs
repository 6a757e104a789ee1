//! What was applied, in words (docs/app.md): "Text size: 150 %", "Pointer size: large",
//! "Magnifier: on, 2×", each with the technical settings it stands for in a details line. The
//! labels are the quick adjustments' and the common terms' names; a setting this table does not
//! know is named from its key ("Enable animations") with its value as it is, so nothing applied is
//! ever left out of the list.

use serde::Serialize;
use serde_json::Value;

use crate::report::{Outcome, ReportRow};

/// One line of the list: a label and its value in words, what became of it, and the technical
/// settings behind it ("org.gnome.desktop.interface › text-scaling-factor = 1.5").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AppliedLine {
    pub label: String,
    /// Empty for a preference this computer cannot take (the reason says why).
    pub value: String,
    pub outcome: Outcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub details: Vec<String>,
}

/// How a value reads.
#[derive(Clone, Copy)]
enum Form {
    OnOff,
    /// A factor as a percentage (1.5 → "150 %").
    Percent,
    /// A factor as a multiple (2 → "2×").
    Times,
    /// GNOME Settings' pointer sizes.
    PointerSize,
    Millis,
    PixelsPerSecond,
    /// How the magnified view follows something.
    Tracking,
    ScreenPart,
    /// Orca's 0–100 rate, 0–10 pitch and volume scales.
    OutOf(u32),
    Punctuation,
}

/// A known setting: its line's label, where in the line it goes (the on/off part first), and
/// how its value reads.
struct Known {
    solution: &'static str,
    setting: &'static str,
    label: &'static str,
    rank: u8,
    form: Form,
}

const fn k(
    solution: &'static str,
    setting: &'static str,
    label: &'static str,
    rank: u8,
    form: Form,
) -> Known {
    Known {
        solution,
        setting,
        label,
        rank,
        form,
    }
}

const IFACE: &str = "org.gnome.desktop.interface";
const MAG: &str = "org.gnome.desktop.a11y.magnifier";
const KBD: &str = "org.gnome.desktop.a11y.keyboard";
const ORCA: &str = "org.gnome.orca";

const KNOWN: &[Known] = &[
    k(IFACE, "text-scaling-factor", "Text size", 0, Form::Percent),
    k(IFACE, "cursor-size", "Pointer size", 0, Form::PointerSize),
    k(IFACE, "enable-animations", "Animations", 0, Form::OnOff),
    k(
        "org.gnome.desktop.a11y.interface",
        "high-contrast",
        "High contrast",
        0,
        Form::OnOff,
    ),
    k(MAG, "running", "Magnifier", 0, Form::OnOff),
    k(MAG, "mag-factor", "Magnifier", 1, Form::Times),
    k(
        MAG,
        "screen-position",
        "Magnified view",
        0,
        Form::ScreenPart,
    ),
    k(MAG, "lens-mode", "Magnifier lens", 0, Form::OnOff),
    k(
        MAG,
        "show-cross-hairs",
        "Magnifier cross hairs",
        0,
        Form::OnOff,
    ),
    k(
        MAG,
        "mouse-tracking",
        "Magnifier follows the pointer",
        0,
        Form::Tracking,
    ),
    k(
        MAG,
        "focus-tracking",
        "Magnifier follows the keyboard focus",
        0,
        Form::Tracking,
    ),
    k(
        MAG,
        "caret-tracking",
        "Magnifier follows the text cursor",
        0,
        Form::Tracking,
    ),
    k(KBD, "stickykeys-enable", "Sticky keys", 0, Form::OnOff),
    k(KBD, "slowkeys-enable", "Slow keys", 0, Form::OnOff),
    k(KBD, "slowkeys-delay", "Slow keys", 1, Form::Millis),
    k(KBD, "bouncekeys-enable", "Bounce keys", 0, Form::OnOff),
    k(KBD, "bouncekeys-delay", "Bounce keys", 1, Form::Millis),
    k(KBD, "togglekeys-enable", "Toggle keys", 0, Form::OnOff),
    k(KBD, "mousekeys-enable", "Mouse keys", 0, Form::OnOff),
    k(
        KBD,
        "mousekeys-max-speed",
        "Mouse keys top speed",
        0,
        Form::PixelsPerSecond,
    ),
    k(
        KBD,
        "mousekeys-accel-time",
        "Mouse keys time to top speed",
        0,
        Form::Millis,
    ),
    k(
        KBD,
        "mousekeys-init-delay",
        "Mouse keys delay before moving",
        0,
        Form::Millis,
    ),
    k(
        "org.gnome.desktop.a11y.applications.onscreen-keyboard",
        "running",
        "On-screen keyboard",
        0,
        Form::OnOff,
    ),
    k(ORCA, "running", "Screen reader", 0, Form::OnOff),
    k(ORCA, "enableSpeech", "Speech", 0, Form::OnOff),
    k(
        ORCA,
        "voices.default.rate",
        "Speech rate",
        0,
        Form::OutOf(100),
    ),
    k(
        ORCA,
        "voices.default.average-pitch",
        "Pitch",
        0,
        Form::OutOf(10),
    ),
    k(
        ORCA,
        "voices.default.gain",
        "Speech volume",
        0,
        Form::OutOf(10),
    ),
    k(ORCA, "enableKeyEcho", "Key echo", 0, Form::OnOff),
    k(
        ORCA,
        "enableEchoByCharacter",
        "Character echo",
        0,
        Form::OnOff,
    ),
    k(ORCA, "enableEchoByWord", "Word echo", 0, Form::OnOff),
    k(
        ORCA,
        "enableTutorialMessages",
        "Tutorial messages",
        0,
        Form::OnOff,
    ),
    k(
        ORCA,
        "verbalizePunctuationStyle",
        "Punctuation spoken",
        0,
        Form::Punctuation,
    ),
];

/// The common terms' names, for preferences this computer cannot take (the quick adjustments'
/// labels where there is one).
const TERMS: &[(&str, &str)] = &[
    ("fontSize", "Text size"),
    ("highContrast/enabled", "High contrast"),
    ("highContrastTheme", "High-contrast theme"),
    ("cursorSize", "Pointer size"),
    ("magnification/enabled", "Magnifier"),
    ("magnification", "Magnification"),
    ("screenReaderTTS/enabled", "Screen reader"),
    ("speechRate", "Speech rate"),
    ("pitch", "Pitch"),
    ("volumeTTS", "Speech volume"),
    ("keyEcho", "Key echo"),
    ("wordEcho", "Word echo"),
    ("punctuationVerbosity", "Punctuation spoken"),
    ("stickyKeys", "Sticky keys"),
    ("slowKeys/enabled", "Slow keys"),
    ("mouseEmulation/enabled", "Mouse keys"),
    ("onScreenKeyboard/enabled", "On-screen keyboard"),
    ("animations", "Animations"),
    ("reduceMotion", "Reduced motion"),
    ("debounce/enabled", "Bounce keys"),
    ("slowKeysInterval", "Slow keys delay"),
    ("debounceInterval", "Bounce keys delay"),
    ("toggleKeys", "Toggle keys"),
    ("showCrosshairs", "Magnifier cross hairs"),
    ("magnifierPosition", "Magnified view"),
    ("tracking", "Magnifier follows"),
    ("speakTutorialMessages", "Tutorial messages"),
];

const COMMON: &str = "http://registry.gpii.net/common/";

/// The report's rows as lines in words: rows of one label and outcome make one line ("Magnifier:
/// on, 2×"), in the order the rows first name them.
pub fn in_words(rows: &[ReportRow]) -> Vec<AppliedLine> {
    /// A line being gathered: its first row, and each row's (rank, value, detail).
    struct Gathered<'r> {
        label: String,
        first: &'r ReportRow,
        parts: Vec<(u8, String, String)>,
    }
    let mut lines: Vec<Gathered<'_>> = Vec::new();
    for row in rows {
        let (label, rank, value) = describe(row);
        let part = (rank, value, detail(row));
        let same = lines.iter_mut().find(|g| {
            g.label == label && g.first.outcome == row.outcome && g.first.reason == row.reason
        });
        match same {
            Some(g) => g.parts.push(part),
            None => lines.push(Gathered {
                label,
                first: row,
                parts: vec![part],
            }),
        }
    }
    lines
        .into_iter()
        .map(|mut g| {
            // The on/off part first; otherwise the rows' order.
            g.parts.sort_by_key(|(rank, _, _)| *rank);
            let values: Vec<&str> = g
                .parts
                .iter()
                .map(|(_, v, _)| v.as_str())
                .filter(|v| !v.is_empty())
                .collect();
            AppliedLine {
                value: values.join(", "),
                label: g.label,
                outcome: g.first.outcome,
                reason: g.first.reason.clone(),
                details: g.parts.into_iter().map(|(_, _, d)| d).collect(),
            }
        })
        .collect()
}

/// One captured preference in words, for "Save these settings as mine": what will be saved
/// ("Text size: 125 %"), its id to choose it by, and the details (the preference term and the
/// desktop settings it was read from).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapturedLine {
    /// [`attune_model::capture::CapturedItem::id`].
    pub id: String,
    pub label: String,
    pub value: String,
    pub details: Vec<String>,
}

/// A capture's items in words, one line each, in the capture's order. A common term reads in
/// the words of the quick adjustments where there is one (fontSize 15 is "Text size: 125 %"); an
/// application's own setting reads as the apply report's line for that setting does, and when a
/// common term was read from the same setting (a 40-pixel pointer is `cursorSize` 0.6 for other
/// computers and 40 pixels exactly here) its label says it is GNOME's own ("Pointer size on
/// GNOME: 40 pixels"), so the two lines do not read as a contradiction.
pub fn captured_in_words(items: &[attune_model::capture::CapturedItem]) -> Vec<CapturedLine> {
    let from_common = |solution: &str, setting: &str| {
        items.iter().any(|i| {
            i.setting.is_none()
                && i.from
                    .iter()
                    .any(|f| f.solution == solution && f.setting == setting)
        })
    };
    items
        .iter()
        .map(|item| {
            let (label, value) = match (&item.setting, item.term.strip_prefix(COMMON)) {
                (None, Some(term)) => term_in_words(term, &item.value),
                (setting, _) => {
                    let solution = item
                        .term
                        .strip_prefix(attune_model::prefs::APPLICATIONS_PREFIX)
                        .unwrap_or(&item.term);
                    let setting = setting.clone().unwrap_or_default();
                    let (label, _, value) = describe(&ReportRow {
                        solution: solution.to_owned(),
                        setting: setting.clone(),
                        value: Some(item.value.clone()),
                        outcome: Outcome::Applied,
                        reason: None,
                    });
                    if from_common(solution, &setting) {
                        (format!("{label} on GNOME"), value)
                    } else {
                        (label, value)
                    }
                }
            };
            let place = match &item.setting {
                Some(s) => format!("{} › {s}", item.term),
                None => item.term.clone(),
            };
            let mut details = vec![format!("{place} = {}", plain(&item.value))];
            details.extend(item.from.iter().map(|f| {
                format!(
                    "from {}",
                    detail(&ReportRow {
                        solution: f.solution.clone(),
                        setting: f.setting.clone(),
                        value: Some(f.value.clone()),
                        outcome: Outcome::Applied,
                        reason: None,
                    })
                )
            }));
            CapturedLine {
                id: item.id(),
                label,
                value,
                details,
            }
        })
        .collect()
}

/// A common term's label and value in words (the term without its prefix).
/// A change of a preference in words, "Text size: 167 %" (a common term as the quick
/// adjustments say it; another term as it is), for lists of changes such as the unsent ones.
pub fn change_in_words(term: &str, value: &Value) -> String {
    match term.strip_prefix(COMMON) {
        Some(t) => {
            let (label, value) = term_in_words(t, value);
            format!("{label}: {value}")
        }
        None => format!("{term}: {}", plain(value)),
    }
}

fn term_in_words(term: &str, v: &Value) -> (String, String) {
    let label = TERMS
        .iter()
        .find(|(t, _)| *t == term)
        .map(|(_, l)| (*l).to_owned())
        .unwrap_or_else(|| from_key(term.rsplit('/').find(|s| *s != "enabled").unwrap_or(term)));
    let n = v.as_f64();
    let value = match (term, v, n) {
        (_, Value::Bool(b), _) => on_off(*b),
        ("fontSize", _, Some(pt)) => format!("{} %", number(pt / 12.0 * 100.0)),
        ("cursorSize", _, Some(c)) => pointer_size(match c {
            c if c <= 0.2 => 24.0,
            c if c <= 0.4 => 32.0,
            c if c <= 0.6 => 48.0,
            c if c <= 0.8 => 64.0,
            _ => 96.0,
        }),
        ("magnification", _, Some(x)) => format!("{}×", number(x)),
        ("slowKeysInterval" | "debounceInterval", _, Some(s)) => millis(s * 1000.0),
        ("speechRate", _, Some(w)) => format!("{} words a minute", number(w)),
        ("pitch" | "volumeTTS", _, Some(x)) => format!("{} %", number(x * 100.0)),
        ("magnifierPosition", Value::String(p), _) => match p.as_str() {
            "FullScreen" => "full screen".to_owned(),
            "Lens" => "a lens that follows the pointer".to_owned(),
            "TopHalf" => "top half".to_owned(),
            "BottomHalf" => "bottom half".to_owned(),
            "LeftHalf" => "left half".to_owned(),
            "RightHalf" => "right half".to_owned(),
            other => other.to_owned(),
        },
        ("tracking", Value::Array(items), _) if items.is_empty() => "nothing".to_owned(),
        ("tracking", Value::Array(items), _) => items
            .iter()
            .map(|i| match i.as_str() {
                Some("mouse") => "the pointer".to_owned(),
                Some("focus") => "the keyboard focus".to_owned(),
                Some("caret") => "the text cursor".to_owned(),
                _ => plain(i),
            })
            .collect::<Vec<_>>()
            .join(", "),
        _ => plain(v),
    };
    (label, value)
}

/// The technical line: where, and the value written.
fn detail(row: &ReportRow) -> String {
    let place = if row.solution.is_empty() {
        row.setting.clone()
    } else {
        format!("{} › {}", row.solution, row.setting)
    };
    match &row.value {
        Some(v) => format!("{place} = {}", plain(v)),
        None => place,
    }
}

/// A row's label, its rank within its line, and its value in words.
fn describe(row: &ReportRow) -> (String, u8, String) {
    if let Some(term) = row.setting.strip_prefix(COMMON) {
        let label = TERMS
            .iter()
            .find(|(t, _)| *t == term)
            .map(|(_, l)| (*l).to_owned())
            .unwrap_or_else(|| {
                from_key(term.rsplit('/').find(|s| *s != "enabled").unwrap_or(term))
            });
        return (label, 0, row.value.as_ref().map(plain).unwrap_or_default());
    }
    let known = KNOWN
        .iter()
        .find(|k| k.solution == row.solution && k.setting == row.setting);
    let value = row.value.as_ref();
    match known {
        Some(k) => (
            k.label.to_owned(),
            k.rank,
            value.map(|v| form(k.form, v)).unwrap_or_default(),
        ),
        None => (
            from_key(row.setting.rsplit('.').next().unwrap_or(&row.setting)),
            0,
            value
                .map(|v| match v {
                    Value::Bool(b) => on_off(*b),
                    v => plain(v),
                })
                .unwrap_or_default(),
        ),
    }
}

fn on_off(b: bool) -> String {
    if b { "on" } else { "off" }.to_owned()
}

/// A number as people write it: no trailing zeros ("1.5", "2").
fn number(n: f64) -> String {
    let rounded = (n * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        let s = format!("{rounded:.2}");
        s.trim_end_matches('0').to_owned()
    }
}

fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), number),
        other => other.to_string(),
    }
}

fn form(f: Form, v: &Value) -> String {
    let n = v.as_f64();
    match (f, v) {
        (Form::OnOff, Value::Bool(b)) => on_off(*b),
        (Form::Percent, _) if n.is_some() => {
            format!("{} %", number(n.unwrap_or(1.0) * 100.0))
        }
        (Form::Times, _) if n.is_some() => format!("{}×", number(n.unwrap_or(1.0))),
        (Form::PointerSize, _) if n.is_some() => pointer_size(n.unwrap_or(24.0)),
        (Form::Millis, _) if n.is_some() => millis(n.unwrap_or(0.0)),
        (Form::PixelsPerSecond, _) if n.is_some() => {
            format!("{} pixels a second", number(n.unwrap_or(0.0)))
        }
        (Form::OutOf(max), _) if n.is_some() => format!("{} of {max}", number(n.unwrap_or(0.0))),
        (Form::Tracking, Value::String(s)) => match s.as_str() {
            "none" => "no".to_owned(),
            "centered" => "centred".to_owned(),
            "proportional" => "proportionally".to_owned(),
            "push" => "at the edges".to_owned(),
            other => other.to_owned(),
        },
        (Form::ScreenPart, Value::String(s)) => match s.as_str() {
            "full-screen" => "full screen".to_owned(),
            "none" => "nowhere".to_owned(),
            other => other.replace('-', " "),
        },
        (Form::Punctuation, _) => match n.map(|n| n as i64) {
            Some(0) => "all".to_owned(),
            Some(1) => "most".to_owned(),
            Some(2) => "some".to_owned(),
            Some(3) => "none".to_owned(),
            _ => plain(v),
        },
        // A value of another kind than the setting's: shown as it is.
        _ => plain(v),
    }
}

/// GNOME Settings' names for its pointer sizes; other sizes in pixels.
fn pointer_size(px: f64) -> String {
    match px.round() as i64 {
        24 => "normal".to_owned(),
        32 => "medium".to_owned(),
        48 => "large".to_owned(),
        64 => "larger".to_owned(),
        96 => "largest".to_owned(),
        _ => format!("{} pixels", number(px)),
    }
}

fn millis(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{} s", number(ms / 1000.0))
    } else {
        format!("{} ms", number(ms))
    }
}

/// "text-scaling-factor" → "Text scaling factor"; "keyEcho" → "Key echo".
fn from_key(key: &str) -> String {
    let mut out = String::new();
    for (i, c) in key.chars().enumerate() {
        if c == '-' || c == '_' || c == '.' {
            out.push(' ');
        } else if c.is_uppercase() && i > 0 {
            out.push(' ');
            out.extend(c.to_lowercase());
        } else if i == 0 {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod change_tests {
    use super::*;

    #[test]
    fn a_change_reads_as_the_quick_adjustments_say_it() {
        let font = format!("{COMMON}fontSize");
        assert_eq!(
            change_in_words(&font, &serde_json::json!(15)),
            "Text size: 125 %"
        );
        assert_eq!(
            change_in_words("http://example.org/x", &serde_json::json!(true)),
            "http://example.org/x: true"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(solution: &str, setting: &str, value: Value) -> ReportRow {
        ReportRow {
            solution: solution.to_owned(),
            setting: setting.to_owned(),
            value: Some(value),
            outcome: Outcome::Applied,
            reason: None,
        }
    }

    fn said(lines: &[AppliedLine]) -> Vec<String> {
        lines
            .iter()
            .map(|l| format!("{}: {}", l.label, l.value))
            .collect()
    }

    #[test]
    fn the_issues_examples_read_as_it_asks() {
        let rows = [
            row(MAG, "mag-factor", json!(2)),
            row(IFACE, "cursor-size", json!(48)),
            row(IFACE, "text-scaling-factor", json!(1.5)),
            row(MAG, "running", json!(true)),
        ];
        let lines = in_words(&rows);
        assert_eq!(
            said(&lines),
            [
                "Magnifier: on, 2×",
                "Pointer size: large",
                "Text size: 150 %"
            ]
        );
        assert_eq!(
            lines[0].details,
            [
                "org.gnome.desktop.a11y.magnifier › running = true",
                "org.gnome.desktop.a11y.magnifier › mag-factor = 2",
            ]
        );
        assert_eq!(
            lines[2].details,
            ["org.gnome.desktop.interface › text-scaling-factor = 1.5"]
        );
    }

    #[test]
    fn captured_items_read_as_the_quick_adjustments_and_the_applied_list_do() {
        use attune_model::capture::{CapturedItem, SettingRef};
        let item = |term: &str, setting: Option<&str>, value: Value| CapturedItem {
            term: term.to_owned(),
            setting: setting.map(str::to_owned),
            value,
            from: vec![SettingRef {
                solution: IFACE.to_owned(),
                setting: "text-scaling-factor".to_owned(),
                value: json!(1.25),
            }],
        };
        let lines = captured_in_words(&[
            item(&format!("{COMMON}fontSize"), None, json!(15)),
            item(
                &format!("{COMMON}tracking"),
                None,
                json!(["mouse", "caret"]),
            ),
            item(&format!("{COMMON}slowKeysInterval"), None, json!(0.3)),
            item(
                &format!("{}{KBD}", attune_model::prefs::APPLICATIONS_PREFIX),
                Some("mousekeys-max-speed"),
                json!(400),
            ),
        ]);
        let said: Vec<String> = lines
            .iter()
            .map(|l| format!("{}: {}", l.label, l.value))
            .collect();
        assert_eq!(
            said,
            [
                "Text size: 125 %",
                "Magnifier follows: the pointer, the text cursor",
                "Slow keys delay: 300 ms",
                "Mouse keys top speed: 400 pixels a second",
            ]
        );
        assert_eq!(
            lines[0].details,
            [
                "http://registry.gpii.net/common/fontSize = 15",
                "from org.gnome.desktop.interface › text-scaling-factor = 1.25",
            ]
        );
        assert_eq!(
            lines[3].id,
            "http://registry.gpii.net/applications/org.gnome.desktop.a11y.keyboard#mousekeys-max-speed"
        );
    }

    #[test]
    fn an_exact_value_beside_its_common_term_is_named_as_gnomes_own() {
        use attune_model::capture::{CapturedItem, SettingRef};
        let from = vec![SettingRef {
            solution: IFACE.to_owned(),
            setting: "cursor-size".to_owned(),
            value: json!(40),
        }];
        let lines = captured_in_words(&[
            CapturedItem {
                term: format!("{COMMON}cursorSize"),
                setting: None,
                value: json!(0.6),
                from: from.clone(),
            },
            CapturedItem {
                term: format!("{}{IFACE}", attune_model::prefs::APPLICATIONS_PREFIX),
                setting: Some("cursor-size".to_owned()),
                value: json!(40),
                from,
            },
        ]);
        let said: Vec<String> = lines
            .iter()
            .map(|l| format!("{}: {}", l.label, l.value))
            .collect();
        assert_eq!(
            said,
            ["Pointer size: large", "Pointer size on GNOME: 40 pixels"]
        );
    }

    #[test]
    fn values_read_in_words_and_odd_values_as_they_are() {
        let one = |s: &str, k: &str, v: Value| said(&in_words(&[row(s, k, v)])).remove(0);
        assert_eq!(
            one(IFACE, "text-scaling-factor", json!(1.25)),
            "Text size: 125 %"
        );
        assert_eq!(
            one(IFACE, "cursor-size", json!(40)),
            "Pointer size: 40 pixels"
        );
        assert_eq!(
            one(IFACE, "enable-animations", json!(false)),
            "Animations: off"
        );
        assert_eq!(one(MAG, "mag-factor", json!(1.5)), "Magnifier: 1.5×");
        assert_eq!(
            one(MAG, "mouse-tracking", json!("proportional")),
            "Magnifier follows the pointer: proportionally"
        );
        assert_eq!(
            one(KBD, "mousekeys-accel-time", json!(1000)),
            "Mouse keys time to top speed: 1 s"
        );
        assert_eq!(
            one(ORCA, "verbalizePunctuationStyle", json!(2)),
            "Punctuation spoken: some"
        );
        // A value of the wrong kind is shown, not hidden or mis-read.
        assert_eq!(
            one(IFACE, "text-scaling-factor", json!("big")),
            "Text size: big"
        );
        // A setting nobody named here: from its key.
        assert_eq!(
            one("org.example.app", "show-large-buttons", json!(true)),
            "Show large buttons: on"
        );
    }

    #[test]
    fn every_setting_and_launcher_of_the_bundled_registry_has_its_words() {
        let registry = attune_model::bundled::linux_registry().unwrap();
        let mut missing = Vec::new();
        for (id, solution) in &registry.solutions {
            let settings = solution
                .settings_handlers
                .values()
                .flat_map(|h| h.supported_settings.keys().map(String::as_str));
            let running = (!solution.launch_handlers.is_empty()).then_some("running");
            for setting in settings.chain(running) {
                if !KNOWN
                    .iter()
                    .any(|k| k.solution == id && k.setting == setting)
                {
                    missing.push(format!("{id} › {setting}"));
                }
            }
        }
        assert!(missing.is_empty(), "no words for {missing:?}");
    }

    /// A fixture's text with `<rows_key>_in_words` (a top-level key, two spaces in) set to
    /// `words` just before `<rows_key>`, the rest of the file as it was.
    fn with_words(text: &str, rows_key: &str, words: &Value) -> String {
        let words_key = format!("  \"{rows_key}_in_words\":");
        let mut lines: Vec<&str> = text.lines().collect();
        if let Some(start) = lines.iter().position(|l| l.starts_with(&words_key)) {
            let end = (start..lines.len())
                .find(|&i| lines[i] == "  ]," || lines[i].ends_with("[],"))
                .unwrap();
            lines.drain(start..=end);
        }
        let rows_at = format!("  \"{rows_key}\":");
        let at = lines.iter().position(|l| l.starts_with(&rows_at)).unwrap();
        let pretty = serde_json::to_string_pretty(words).unwrap();
        let block = format!("{words_key} {},", pretty.replace('\n', "\n  "));
        let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
        out.insert(at, block);
        out.join("\n") + "\n"
    }

    /// The UI's fixtures (status, key-in and key-out outcomes) carry the words Rust gives their rows, so
    /// the page is tested against what Rust sends. `ATTUNE_WRITE_FIXTURES=1` writes them.
    #[test]
    fn the_ui_fixtures_carry_these_words() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/tests/fixtures");
        let write = std::env::var_os("ATTUNE_WRITE_FIXTURES").is_some();
        let (mut seen, mut wrong) = (0, Vec::new());
        for (dir, rows_key) in [
            ("status", "applied"),
            ("key-in", "applied"),
            ("recover", "failed"),
        ] {
            let words_key = format!("{rows_key}_in_words");
            for entry in std::fs::read_dir(root.join(dir)).unwrap() {
                let path = entry.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                let v: Value = serde_json::from_str(&text).unwrap();
                let rows: Vec<ReportRow> = serde_json::from_value(v[rows_key].clone()).unwrap();
                let want = serde_json::to_value(in_words(&rows)).unwrap();
                seen += 1;
                if v[&words_key] == want {
                    continue;
                }
                if write {
                    std::fs::write(&path, with_words(&text, rows_key, &want)).unwrap();
                } else {
                    wrong.push(path.display().to_string());
                }
            }
        }
        assert!(seen >= 15, "only {seen} fixtures under {}", root.display());
        assert!(
            wrong.is_empty(),
            "fixtures whose applied_in_words is not Rust's (ATTUNE_WRITE_FIXTURES=1 cargo test -p attune-flow --lib words writes them):\n{}",
            wrong.join("\n")
        );
    }

    #[test]
    fn slow_keys_is_one_line_and_each_outcome_its_own() {
        let mut failed = row(KBD, "slowkeys-delay", json!(300));
        failed.outcome = Outcome::Failed;
        failed.reason = Some("read back 0".to_owned());
        let lines = in_words(&[
            row(KBD, "slowkeys-delay", json!(300)),
            row(KBD, "slowkeys-enable", json!(true)),
            failed,
        ]);
        assert_eq!(said(&lines), ["Slow keys: on, 300 ms", "Slow keys: 300 ms"]);
        assert_eq!(lines[1].outcome, Outcome::Failed);
        assert_eq!(lines[1].reason.as_deref(), Some("read back 0"));
    }

    #[test]
    fn preferences_this_computer_cannot_take_are_named_by_their_term() {
        let unsupported = |term: &str| ReportRow {
            solution: String::new(),
            setting: format!("{COMMON}{term}"),
            value: None,
            outcome: Outcome::NotSupported,
            reason: Some("needs org.gnome.orca, not installed here".to_owned()),
        };
        let lines = in_words(&[
            unsupported("screenReaderTTS/enabled"),
            unsupported("speechRate"),
            unsupported("someNewThing/enabled"),
        ]);
        assert_eq!(
            said(&lines),
            ["Screen reader: ", "Speech rate: ", "Some new thing: "]
        );
        assert_eq!(
            lines[0].details,
            ["http://registry.gpii.net/common/screenReaderTTS/enabled"]
        );
    }
}
