//! Capture: the desktop as it is, back into a preference set (docs/capture.md).
//!
//! The input is a [`Reading`] of this computer: for each installed solution, only the settings
//! the person set (a GSettings user value, a key present in a settings file — never a default)
//! and whether its launch handler's key is set on or off. [`capture`] turns it into preference
//! terms:
//!
//! 1. Each settings handler's `inverseCapabilitiesTransformations` (GPII's format: output paths
//!    are common terms, input paths are the handler's setting names) is evaluated over that
//!    handler's settings. A handler without the block contributes no common terms: its
//!    forward rules are not inverted automatically (GPII's rule for an empty block, and ours for
//!    every handler, since most of our forward rules clamp, round or choose between terms).
//! 2. A solution's launch state gives its `…/enabled` capability (the same term the forward
//!    direction starts and stops it by).
//! 3. Every setting read is then checked against the forward direction: the handler's
//!    `capabilitiesTransformations` applied to the captured common terms. A setting the forward
//!    rules give back exactly is explained by the common terms; any other — no inverse, a value
//!    the inverse cannot name, a value the common term only approximates — is kept in the
//!    solution's application block (`http://registry.gpii.net/applications/<id>`), which the
//!    forward direction lets override. Nothing read is dropped silently (GPII's capture tool
//!    dropped settings without an inverse): a value outside the setting's `supportedSettings`
//!    schema, which Attune would refuse to write, is listed in [`Capture::skipped`] with the rule
//!    it breaks.
//!
//! So keying the captured set in again on this computer writes what was read, value for value;
//! another computer gets the common terms.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ModelError;
use crate::path;
use crate::prefs::{APPLICATIONS_PREFIX, COMMON_PREFIX};
use crate::registry::{SettingsHandlerSpec, SolutionEntry, SolutionsRegistry};
use crate::transform;
use crate::validate;

/// The setting name a launch state is reported under (as in the apply report's rows).
pub const RUNNING: &str = "running";

/// What was read from this computer: only values the person set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Solution id → settings handler name → setting name → value.
    #[serde(default)]
    pub settings: BTreeMap<String, BTreeMap<String, BTreeMap<String, Value>>>,
    /// Solution id → whether its launch handler's key is set on (absent: the person has not set
    /// it).
    #[serde(default)]
    pub running: BTreeMap<String, bool>,
}

/// One desktop setting a captured term stands for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingRef {
    pub solution: String,
    /// A setting name, or [`RUNNING`] for a launch state.
    pub setting: String,
    pub value: Value,
}

/// One captured preference: a common term, or one setting of an application block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CapturedItem {
    /// The preference term: `http://registry.gpii.net/common/…` or
    /// `http://registry.gpii.net/applications/<solution id>`.
    pub term: String,
    /// For an application block, the setting within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub setting: Option<String>,
    pub value: Value,
    /// The desktop settings it was read from.
    pub from: Vec<SettingRef>,
}

impl CapturedItem {
    /// A stable name for the item (to choose items by): the term, or `<block term>#<setting>`.
    pub fn id(&self) -> String {
        match &self.setting {
            Some(s) => format!("{}#{s}", self.term),
            None => self.term.clone(),
        }
    }
}

/// A setting that was read but cannot be kept, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skipped {
    pub solution: String,
    pub setting: String,
    pub value: Value,
    pub reason: String,
}

/// What [`capture`] makes of a reading.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Capture {
    /// Common terms first (by term), then application-block settings (by solution, setting).
    pub items: Vec<CapturedItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<Skipped>,
}

impl Capture {
    /// The items as a preference set's preferences (term → value; an application block is an
    /// object of its settings).
    pub fn preferences(&self) -> BTreeMap<String, Value> {
        preferences_of(self.items.iter())
    }

    /// [`Self::preferences`] of only the items whose [`CapturedItem::id`] is in `ids`.
    pub fn preferences_of_ids(&self, ids: &[String]) -> BTreeMap<String, Value> {
        preferences_of(self.items.iter().filter(|i| ids.contains(&i.id())))
    }
}

fn preferences_of<'a>(items: impl Iterator<Item = &'a CapturedItem>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for item in items {
        match &item.setting {
            None => {
                out.insert(item.term.clone(), item.value.clone());
            }
            Some(s) => {
                let block = out
                    .entry(item.term.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(b) = block {
                    b.insert(s.clone(), item.value.clone());
                }
            }
        }
    }
    out
}

/// Turns a reading of this computer into preference terms, through `registry` (this computer's).
/// Solutions and handlers the registry does not know are ignored (nothing can say what they
/// mean). Errors come only from the registry: a transformation that cannot be evaluated.
pub fn capture(registry: &SolutionsRegistry, reading: &Reading) -> Result<Capture, ModelError> {
    let mut common: BTreeMap<String, CapturedItem> = BTreeMap::new();
    let empty = BTreeMap::new();

    // 1. Inverse rules, handler by handler; 2. launch states.
    for (id, entry) in &registry.solutions {
        let handlers = reading.settings.get(id).unwrap_or(&empty);
        for (name, spec) in &entry.settings_handlers {
            let Some(settings) = handlers.get(name).filter(|s| !s.is_empty()) else {
                continue;
            };
            let Some(rules) = spec.inverse_capabilities_transformations.as_ref() else {
                continue;
            };
            let ctx = |e| in_inverse(e, id, name);
            let terms = inverse(rules, settings).map_err(ctx)?;
            for (term, value) in terms {
                let from = sources_of(rules, settings, &term, &value)
                    .map_err(ctx)?
                    .into_iter()
                    .map(|(setting, value)| SettingRef {
                        solution: id.clone(),
                        setting,
                        value,
                    })
                    .collect();
                add_common(&mut common, term, value, from);
            }
        }
        if let (Some(on), Some(term)) = (reading.running.get(id), enabled_term(entry)) {
            let from = vec![SettingRef {
                solution: id.clone(),
                setting: RUNNING.to_owned(),
                value: Value::Bool(*on),
            }];
            // The launch state says whether the solution runs: it wins over any setting.
            common.remove(&term);
            add_common(&mut common, term, Value::Bool(*on), from);
        }
    }

    // 3. What the common terms do not give back stays as the application's own setting.
    let terms_doc = Value::Object(
        common
            .iter()
            .map(|(t, i)| (t.clone(), i.value.clone()))
            .collect(),
    );
    let mut own = Vec::new();
    let mut skipped = Vec::new();
    for (id, entry) in &registry.solutions {
        let Some(handlers) = reading.settings.get(id) else {
            continue;
        };
        for (name, spec) in &entry.settings_handlers {
            let Some(settings) = handlers.get(name) else {
                continue;
            };
            let forward = match spec.capabilities_transformations.as_ref() {
                Some(rules) => transform::transform(rules, &terms_doc)
                    .map_err(|e| crate::matchmaker::in_handler(e, id, name))?,
                None => Value::Object(Map::new()),
            };
            for (setting, value) in settings {
                let given_back = path::get_segs(&forward, &[setting.as_str()]);
                if given_back.is_some_and(|g| same_json(g, value)) {
                    continue;
                }
                match schema_problem(spec, setting, value) {
                    Some(reason) => skipped.push(Skipped {
                        solution: id.clone(),
                        setting: setting.clone(),
                        value: value.clone(),
                        reason,
                    }),
                    None => own.push(CapturedItem {
                        term: format!("{APPLICATIONS_PREFIX}{id}"),
                        setting: Some(setting.clone()),
                        value: value.clone(),
                        from: vec![SettingRef {
                            solution: id.clone(),
                            setting: setting.clone(),
                            value: value.clone(),
                        }],
                    }),
                }
            }
        }
    }

    let mut items: Vec<CapturedItem> = common.into_values().collect();
    items.extend(own);
    Ok(Capture { items, skipped })
}

/// The inverse rules over one handler's settings: common term → value. The rules' output paths
/// are EL paths whose first segment is the term (`http://registry\.gpii\.net/common/…`).
fn inverse(
    rules: &Value,
    settings: &BTreeMap<String, Value>,
) -> Result<Vec<(String, Value)>, ModelError> {
    let input = Value::Object(
        settings
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    );
    let Value::Object(out) = crate::validate::js_numbers(transform::transform(rules, &input)?)
    else {
        return Ok(Vec::new());
    };
    Ok(out
        .into_iter()
        .filter(|(term, _)| term.starts_with(COMMON_PREFIX))
        .collect())
}

/// The settings a captured term depends on: those without which the inverse would not give
/// the same value (found by leaving each out in turn).
fn sources_of(
    rules: &Value,
    settings: &BTreeMap<String, Value>,
    term: &str,
    value: &Value,
) -> Result<Vec<(String, Value)>, ModelError> {
    let mut from = Vec::new();
    for (name, v) in settings {
        let mut without = settings.clone();
        without.remove(name);
        let again = inverse(rules, &without)?;
        let same = again.iter().any(|(t, w)| t == term && same_json(w, value));
        if !same {
            from.push((name.clone(), v.clone()));
        }
    }
    Ok(from)
}

fn add_common(
    common: &mut BTreeMap<String, CapturedItem>,
    term: String,
    value: Value,
    from: Vec<SettingRef>,
) {
    match common.get_mut(&term) {
        // Two handlers gave the same term: the first (by solution id, handler name) is kept,
        // and the forward check below keeps the other's setting as its own if they disagree.
        Some(_) => {}
        None => {
            common.insert(
                term.clone(),
                CapturedItem {
                    term,
                    setting: None,
                    value,
                    from,
                },
            );
        }
    }
}

/// The `…/enabled` term a solution's launch handler is driven by (the first such term in its
/// `capabilities`), if it has a launch handler.
fn enabled_term(entry: &SolutionEntry) -> Option<String> {
    if entry.launch_handlers.is_empty() {
        return None;
    }
    entry.capabilities.iter().find_map(|cap| {
        let segs = path::parse(cap);
        match segs.as_slice() {
            [term] if term.ends_with("/enabled") && term.starts_with(COMMON_PREFIX) => {
                Some(term.clone())
            }
            _ => None,
        }
    })
}

/// Why `value` may not be kept for `setting` (its `supportedSettings` schema), if it may not.
fn schema_problem(spec: &SettingsHandlerSpec, setting: &str, value: &Value) -> Option<String> {
    match spec.supported_settings.get(setting) {
        Some(s) => validate::check(value, &s.schema).err(),
        None if spec.supported_settings.is_empty() => validate::check(value, &Value::Null).err(),
        None => Some("is not a supported setting of this solution".to_owned()),
    }
}

/// Numbers by value (`2` is `2.0`), anything else exactly.
fn same_json(a: &Value, b: &Value) -> bool {
    crate::json_equal_by(a, b, &|x, y| x.as_f64() == y.as_f64())
}

fn in_inverse(e: ModelError, id: &str, handler: &str) -> ModelError {
    match e {
        ModelError::Transform { at, detail } => ModelError::Transform {
            at: path::join(
                &format!("{id}.settingsHandlers.{handler}.inverseCapabilitiesTransformations"),
                &at,
            ),
            detail,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry() -> SolutionsRegistry {
        crate::bundled::linux_registry().unwrap()
    }

    fn reading(v: Value) -> Reading {
        serde_json::from_value(v).unwrap()
    }

    fn common(t: &str) -> String {
        format!("{COMMON_PREFIX}{t}")
    }

    #[test]
    fn a_reading_of_nothing_captures_nothing() {
        let c = capture(&registry(), &Reading::default()).unwrap();
        assert_eq!(c, Capture::default());
    }

    #[test]
    fn text_size_comes_back_in_points_and_explains_the_setting() {
        let r = reading(
            json!({"settings": {"org.gnome.desktop.interface": {"configuration":
            {"text-scaling-factor": 1.25}}}}),
        );
        let c = capture(&registry(), &r).unwrap();
        assert_eq!(
            c.preferences(),
            BTreeMap::from([(common("fontSize"), json!(15))])
        );
        assert_eq!(c.items[0].from[0].setting, "text-scaling-factor");
    }

    #[test]
    fn a_value_the_common_term_only_approximates_is_kept_as_the_applications_own() {
        // 40 px is no GNOME Settings size: cursorSize 0.6 gives 48, so 40 is kept as well.
        let r = reading(
            json!({"settings": {"org.gnome.desktop.interface": {"configuration":
            {"cursor-size": 40}}}}),
        );
        let c = capture(&registry(), &r).unwrap();
        assert_eq!(
            c.preferences(),
            BTreeMap::from([
                (common("cursorSize"), json!(0.6)),
                (
                    format!("{APPLICATIONS_PREFIX}org.gnome.desktop.interface"),
                    json!({"cursor-size": 40})
                ),
            ])
        );
    }

    #[test]
    fn a_setting_without_an_inverse_is_kept_not_dropped() {
        let r = reading(
            json!({"settings": {"org.gnome.desktop.a11y.keyboard": {"configuration":
            {"mousekeys-max-speed": 400, "mousekeys-enable": true}}}}),
        );
        let c = capture(&registry(), &r).unwrap();
        assert_eq!(
            c.preferences(),
            BTreeMap::from([
                (common("mouseEmulation/enabled"), json!(true)),
                (
                    format!("{APPLICATIONS_PREFIX}org.gnome.desktop.a11y.keyboard"),
                    json!({"mousekeys-max-speed": 400})
                ),
            ])
        );
    }

    #[test]
    fn a_value_outside_what_attune_writes_is_listed_as_skipped() {
        let r = reading(
            json!({"settings": {"org.gnome.desktop.a11y.keyboard": {"configuration":
            {"mousekeys-max-speed": 99999}}}}),
        );
        let c = capture(&registry(), &r).unwrap();
        assert!(c.items.is_empty());
        assert_eq!(c.skipped.len(), 1);
        assert_eq!(c.skipped[0].setting, "mousekeys-max-speed");
        assert!(c.skipped[0].reason.contains("2000"), "{:?}", c.skipped);
    }

    #[test]
    fn the_launch_state_gives_the_enabled_term_and_wins_over_orcas_speech_setting() {
        let r = reading(json!({
            "settings": {"org.gnome.orca": {"configuration": {"enableSpeech": false}}},
            "running": {"org.gnome.orca": true}
        }));
        let c = capture(&registry(), &r).unwrap();
        let p = c.preferences();
        assert_eq!(p[&common("screenReaderTTS/enabled")], json!(true));
        // Speech off while Orca runs is the person's own Orca setting.
        assert_eq!(
            p[&format!("{APPLICATIONS_PREFIX}org.gnome.orca")],
            json!({"enableSpeech": false})
        );
    }

    #[test]
    fn the_magnifiers_lens_wins_over_its_screen_position() {
        let r = reading(
            json!({"settings": {"org.gnome.desktop.a11y.magnifier": {"configuration":
            {"lens-mode": true, "screen-position": "full-screen"}}}}),
        );
        let p = capture(&registry(), &r).unwrap().preferences();
        assert_eq!(p[&common("magnifierPosition")], json!("Lens"));
        assert_eq!(p.len(), 1, "{p:?}");
    }

    #[test]
    fn tracking_needs_all_three_keys_else_each_is_kept_as_set() {
        let r = reading(
            json!({"settings": {"org.gnome.desktop.a11y.magnifier": {"configuration":
            {"mouse-tracking": "proportional"}}}}),
        );
        let p = capture(&registry(), &r).unwrap().preferences();
        assert!(!p.contains_key(&common("tracking")), "{p:?}");
        assert_eq!(
            p[&format!("{APPLICATIONS_PREFIX}org.gnome.desktop.a11y.magnifier")],
            json!({"mouse-tracking": "proportional"})
        );
    }

    #[test]
    fn items_can_be_chosen_by_id() {
        let r = reading(
            json!({"settings": {"org.gnome.desktop.a11y.keyboard": {"configuration":
            {"mousekeys-max-speed": 400, "stickykeys-enable": true}}}}),
        );
        let c = capture(&registry(), &r).unwrap();
        let ids: Vec<String> = c.items.iter().map(CapturedItem::id).collect();
        assert_eq!(
            ids,
            [
                common("stickyKeys"),
                format!("{APPLICATIONS_PREFIX}org.gnome.desktop.a11y.keyboard#mousekeys-max-speed")
            ]
        );
        let only = c.preferences_of_ids(&ids[1..]);
        assert_eq!(only.len(), 1);
        assert!(!only.contains_key(&common("stickyKeys")));
    }

    #[test]
    fn a_broken_inverse_rule_is_an_error_naming_where_it_is() {
        let mut reg = registry();
        let spec = reg
            .solutions
            .get_mut("org.gnome.desktop.a11y.interface")
            .and_then(|e| e.settings_handlers.get_mut("configuration"))
            .unwrap();
        spec.inverse_capabilities_transformations =
            Some(json!({"x": {"transform": {"type": "fluid.transforms.noSuch"}}}));
        let r = reading(
            json!({"settings": {"org.gnome.desktop.a11y.interface": {"configuration":
            {"high-contrast": true}}}}),
        );
        let e = capture(&reg, &r).unwrap_err().to_string();
        assert!(e.contains("inverseCapabilitiesTransformations"), "{e}");
        assert!(e.contains("noSuch"), "{e}");
    }
}
