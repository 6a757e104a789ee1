//! The flat matchmaker: which installed solutions to configure for which preference terms, and
//! the lifecycle instructions that follow from that choice.
//!
//! This reproduces what GPII's cloud-based flow manager does for `GET /{key}/settings/{device}`
//! (GPII/universal `documentation/FlatMatchMaker.md`, `MatchMakerFramework.md`, `Apptology.md`;
//! code in `flatMatchMaker`, `matchMakerFramework/src/MatchMakerUtilities.js`,
//! `flowManager/src/SettingsGetHandler.js`, `transformer/src/js/Transformer.js`), so Attune's
//! cloud can answer as GPII's does and Attune's client can act on either cloud's answer:
//!
//! 1. *Installed solutions* are the registry entries whose id the device report names.
//! 2. A solution's *capabilities* are the EL paths of its `capabilities` list plus every input
//!    path of its handlers' `capabilitiesTransformations`.
//! 3. Per preference context, a solution is *accepted* when one of the person's preference leaves
//!    (a common term with a primitive value) is among its capabilities, or when the person has an
//!    application block for it (GPII gives it priority 512) or names it in a `priority` metadata
//!    entry. GPII matches in the ISO 24751 ontology, so a handful of common terms that GPII's
//!    ontology knows but cannot map there never select a solution by themselves
//!    ([`GPII_UNMAPPED_TERMS`]); terms GPII does not know at all (Attune's own) match directly.
//! 4. *Apptology*: of several accepted solutions of one exclusive type (two magnifiers, two screen
//!    readers, …) only the one with the highest priority stays; on a tie, the first by solution id.
//!    (GPII takes the first in registry-file order; for GPII's own Linux registry the two agree.)
//! 5. Each accepted solution gets `{"active": true, "settings": …}` where `settings` are the
//!    context's preferences the solution supports: its supported common terms, its own
//!    application block (common terms written inside that block are lifted out of it), as GPII's
//!    `filterPreferencesForSolution`.
//! 6. The preferences sent back are filtered to what some accepted solution uses (GPII's
//!    `filterPreferencesFromInferredConfig`), so a client learns nothing more than it needs.
//!
//! The local side then turns one context's configuration into [`LifecycleInstructions`] with
//! [`instructions_from_configuration`] — the same function for a locally computed match and for
//! an answer received from a cloud ([`instructions_from_cloud_answer`]): per settings handler, the
//! transformed common terms, overridden by the application block's own values, validated against
//! `supportedSettings` (see [`crate::validate`]).
//!
//! Numbers in every output are written as JavaScript writes them (`2.0` becomes `2`), because
//! GPII's answers are produced by `JSON.stringify` and ours are compared with them.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use crate::device::DeviceReport;
use crate::error::ModelError;
use crate::lifecycle::{
    HandlerInstructions, InvalidSetting, LaunchInstruction, LifecycleInstructions,
    SolutionInstructions, UnsupportedTerm,
};
use crate::path;
use crate::prefs::{PreferenceSet, APPLICATIONS_PREFIX, COMMON_PREFIX};
use crate::registry::{SettingsHandlerSpec, SolutionEntry, SolutionsRegistry};
use crate::transform;
use crate::validate;

/// Common terms that GPII's flat ontology defines but that have no ISO 24751 mapping. GPII's
/// flat matchmaker matches in ISO 24751 space, so these never select a solution on their own;
/// they are still carried to a solution that was selected for another reason. (Derived from
/// `testData/ontologies/flat.json5` minus `testData/ontologies/mappings/ISO24751-flat.json5`.)
pub const GPII_UNMAPPED_TERMS: [&str; 8] = [
    "http://registry.gpii.net/common/audioDescription/enabled",
    "http://registry.gpii.net/common/captions/enabled",
    "http://registry.gpii.net/common/contrast",
    "http://registry.gpii.net/common/cursorColor",
    "http://registry.gpii.net/common/screenResolution",
    "http://registry.gpii.net/common/showCrosshairs",
    "http://registry.gpii.net/common/subtitles/enabled",
    "http://registry.gpii.net/common/wordSpace",
];

/// GPII's priority for a solution the person has an application block for
/// (`gpii.matchMakerFramework.APP_SETTING_PRIORITY`).
pub const APP_SETTING_PRIORITY: f64 = 512.0;

/// Solution types of which only one may run (GPII's "apptology",
/// `testData/ontologies/mappings/flat-apptology.json5`): a type and the capabilities that make a
/// solution one of that type.
const EXCLUSIVE_TYPES: [(&str, &[&str]); 6] = [
    (
        "magnifier",
        &[
            "http://registry.gpii.net/common/magnification/enabled",
            "http://registry.gpii.net/common/magnification",
        ],
    ),
    (
        "screenReader",
        &["http://registry.gpii.net/common/screenReaderTTS/enabled"],
    ),
    (
        "stickyKeys",
        &["http://registry.gpii.net/common/stickyKeys"],
    ),
    (
        "slowKeys",
        &["http://registry.gpii.net/common/slowKeys/enabled"],
    ),
    (
        "debounceKeys",
        &["http://registry.gpii.net/common/debounce/enabled"],
    ),
    (
        "onScreenKeyboard",
        &["http://registry.gpii.net/common/onScreenKeyboard/enabled"],
    ),
];

/// Marks application blocks in GPII's ISO 24751 view (`applicationFlatToISO` looks for it
/// anywhere in the term).
const APPLICATION_MARKER: &str = "//registry.gpii.net/applications/";

/// Everything one matchmaking run decides.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// GPII's `matchMakerOutput`: `{"inferredConfiguration":{<context>:{"applications":{<id>:
    /// {"active":bool,"settings":{term: value}}}}}}`, one entry per context of the set.
    pub matchmaker_output: Value,
    /// The preferences as GPII's cloud returns them: the preference set's inner form
    /// (`{"name","contexts","metadata"?}`, without the `flat` wrapper), filtered to the terms
    /// some chosen solution uses.
    pub filtered_preferences: Value,
    /// The registry entries of the installed solutions (GPII's `solutionsRegistryEntries`),
    /// shared with the [`Matcher`] that made the outcome.
    pub registry_entries: Arc<SolutionsRegistry>,
    /// What to do on this machine for the requested context.
    pub instructions: LifecycleInstructions,
}

/// Matches `prefs` against the solutions of `registry` that `device` reports as installed, and
/// builds the instructions for `context` (usually [`crate::prefs::DEFAULT_CONTEXT`]).
///
/// `registry` is the registry for the device's OS (GPII keeps one per OS and picks it by
/// `device.OS.id`). A context the set does not have gives empty instructions. Errors come only
/// from the registry: a transformation that cannot be read or evaluated.
///
/// This prepares the registry for the device each time; a caller matching many sets against one
/// device keeps a [`Matcher`] instead.
pub fn match_and_transform(
    prefs: &PreferenceSet,
    context: &str,
    registry: &SolutionsRegistry,
    device: &DeviceReport,
) -> Result<Outcome, ModelError> {
    Matcher::new(registry, device)?.match_and_transform(prefs, context)
}

/// A solutions registry prepared for one device: the installed solutions' entries and, for each,
/// the capabilities, matching skeleton and solution types matching needs, worked out once. What
/// is left for each preference set is the set's own work. (Preparing is most of a match's cost:
/// reading every handler's `capabilitiesTransformations` and copying the installed entries.)
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Every solution id of the registry, installed or not.
    known: BTreeSet<String>,
    installed: Arc<SolutionsRegistry>,
    candidates: Vec<Candidate>,
    /// Each installed solution's, by id, worked out when first chosen (a one-off match chooses a
    /// few of many).
    prepared: BTreeMap<String, OnceLock<SolutionPrep>>,
    /// The solutions not installed here, with the heads of their capabilities: for telling the
    /// person what would carry out a term.
    elsewhere: Vec<(String, BTreeSet<String>)>,
}

impl Matcher {
    /// Prepares `registry` for `device`; fails when a transformation cannot be read, naming the
    /// solution and handler.
    pub fn new(registry: &SolutionsRegistry, device: &DeviceReport) -> Result<Matcher, ModelError> {
        let installed = installed_entries(registry, device);
        let candidates = candidates(&installed)?;
        let prepared = installed
            .solutions
            .keys()
            .map(|id| (id.clone(), OnceLock::new()))
            .collect();
        Ok(Matcher {
            known: registry.solutions.keys().cloned().collect(),
            candidates,
            prepared,
            elsewhere: registry
                .solutions
                .iter()
                .filter(|(id, _)| installed.get(id).is_none())
                .filter_map(|(id, e)| {
                    Some((id.clone(), capability_heads(&capabilities(id, e).ok()?)))
                })
                .collect(),
            installed: Arc::new(installed),
        })
    }

    /// The registry entries of the installed solutions.
    pub fn installed(&self) -> &Arc<SolutionsRegistry> {
        &self.installed
    }

    /// What carrying out installed solution `id` needs, worked out once.
    fn prep(&self, id: &str, entry: &SolutionEntry) -> Result<Cow<'_, SolutionPrep>, ModelError> {
        let Some(cell) = self.prepared.get(id) else {
            return SolutionPrep::new(id, entry).map(Cow::Owned);
        };
        if let Some(p) = cell.get() {
            return Ok(Cow::Borrowed(p));
        }
        let made = SolutionPrep::new(id, entry)?;
        Ok(Cow::Borrowed(cell.get_or_init(|| made)))
    }

    /// Matches `prefs` and builds the instructions for `context` (see [`match_and_transform`]).
    pub fn match_and_transform(
        &self,
        prefs: &PreferenceSet,
        context: &str,
    ) -> Result<Outcome, ModelError> {
        let candidates = &self.candidates;
        let gpii_prefs = gpii_preferences(prefs);

        let mut inferred = Map::new();
        for (ctx_name, ctx) in &prefs.flat.contexts {
            let chosen = dispose(&ctx.preferences, ctx.metadata.as_ref(), candidates);
            let mut applications = Map::new();
            for cand in candidates.iter().filter(|c| chosen.contains(c.id.as_str())) {
                let settings = settings_for_solution(&cand.id, &ctx.preferences, &cand.singles);
                let mut app = Map::new();
                app.insert("active".to_owned(), Value::Bool(true));
                app.insert("settings".to_owned(), Value::Object(settings));
                applications.insert(cand.id.clone(), Value::Object(app));
            }
            let mut block = Map::new();
            block.insert("applications".to_owned(), Value::Object(applications));
            inferred.insert(ctx_name.clone(), Value::Object(block));
        }
        let inferred = js_numbers(Value::Object(inferred));
        let filtered_preferences = js_numbers(filter_preferences(&gpii_prefs, &inferred));

        let empty = Map::new();
        let applications = inferred
            .get(context)
            .and_then(|c| c.get("applications"))
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut instructions =
            instructions(applications, &self.installed, &|id, e| self.prep(id, e))?;
        if let Some(ctx) = prefs.flat.contexts.get(context) {
            instructions.unsupported = self.unsupported_terms(&ctx.preferences, applications);
        }

        let mut matchmaker_output = Map::new();
        matchmaker_output.insert("inferredConfiguration".to_owned(), inferred);
        Ok(Outcome {
            matchmaker_output: Value::Object(matchmaker_output),
            filtered_preferences,
            registry_entries: Arc::clone(&self.installed),
            instructions,
        })
    }

    /// Why each preference of the context is not carried out here.
    fn unsupported_terms(
        &self,
        prefs: &BTreeMap<String, Value>,
        applications: &Map<String, Value>,
    ) -> Vec<UnsupportedTerm> {
        let used = used_terms(applications);
        let mut out = Vec::new();
        for term in prefs.keys() {
            if used.contains(term) {
                continue;
            }
            let reason = if let Some(id) = term.strip_prefix(APPLICATIONS_PREFIX) {
                if !self.known.contains(id) {
                    format!("no solution `{id}` in the solutions registry")
                } else if self.installed.get(id).is_none() {
                    format!("`{id}` is not installed here")
                } else {
                    format!("`{id}` is installed, but another solution of its type was chosen")
                }
            } else if term.starts_with(COMMON_PREFIX) {
                let here: Vec<&str> = self
                    .candidates
                    .iter()
                    .filter(|c| c.heads.contains(term))
                    .map(|c| c.id.as_str())
                    .collect();
                let elsewhere: Vec<&str> = self
                    .elsewhere
                    .iter()
                    .filter(|(_, heads)| heads.contains(term))
                    .map(|(id, _)| id.as_str())
                    .collect();
                if !here.is_empty() {
                    let alone = if matchable(term) {
                        ""
                    } else {
                        "; this term alone does not select a solution"
                    };
                    format!("{} supports it, but was not chosen{alone}", here.join(", "))
                } else if !elsewhere.is_empty() {
                    format!("needs {}, not installed here", elsewhere.join(" or "))
                } else {
                    "no solution in the registry supports this term".to_owned()
                }
            } else {
                "not a GPII common term or application block".to_owned()
            };
            out.push(UnsupportedTerm {
                term: term.clone(),
                reason,
            });
        }
        out
    }
}

/// Builds the instructions for `context` from a GPII cloud's answer to
/// `GET /{key}/settings/{device}` (`{"preferences","solutionsRegistryEntries",
/// "matchMakerOutput"}`), with the same code as a local match. `what` names the answer in errors.
///
/// **Trust (docs/design.md §10.1):** the cloud decides which values a person wants; this computer
/// decides what may be written and how. Every handler type, file, GSettings schema and key,
/// transformation and value schema comes from `local`, this computer's registry. The answer's
/// `solutionsRegistryEntries` are never interpreted (a hostile cloud, anyone on the path to an
/// `http://` cloud, or a poisoned cache would otherwise choose what the desktop writes): a chosen
/// solution is looked up in `local` by its id, and a solution, term or setting `local` does not
/// know is listed in `unsupported` with the reason that the cloud asked for it. The legitimate
/// values of the same answer still apply, validated against the local `supportedSettings`.
///
/// The cloud has already filtered the preferences to what it configures, so `unsupported` lists
/// only what the answer itself leaves unexplained, and what this computer does not know.
pub fn instructions_from_cloud_answer(
    answer: &Value,
    context: &str,
    local: &SolutionsRegistry,
    what: &str,
) -> Result<LifecycleInstructions, ModelError> {
    let shape = |at: &str, detail: &str| ModelError::Shape {
        what: what.to_owned(),
        at: at.to_owned(),
        detail: detail.to_owned(),
    };
    let Value::Object(answer) = answer else {
        return Err(shape("", "expected an object"));
    };
    // Checked for shape only: its contents never decide anything here (see above).
    match answer.get("solutionsRegistryEntries") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => {
            return Err(shape(
                "solutionsRegistryEntries",
                "expected an object of solution id → entry",
            ))
        }
    }
    let inferred = answer
        .get("matchMakerOutput")
        .ok_or_else(|| shape("matchMakerOutput", "missing"))?
        .get("inferredConfiguration")
        .ok_or_else(|| shape("matchMakerOutput.inferredConfiguration", "missing"))?;
    if !inferred.is_object() {
        return Err(shape(
            "matchMakerOutput.inferredConfiguration",
            "expected an object of context → configuration",
        ));
    }
    let empty = Map::new();
    let applications = match inferred.get(context) {
        None => &empty,
        Some(c) => c
            .get("applications")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                shape(
                    &format!("matchMakerOutput.inferredConfiguration.{context}.applications"),
                    "expected an object of solution id → configuration",
                )
            })?,
    };
    let mut instructions = instructions_from_configuration(applications, local)?;
    if let Some(Value::Object(prefs)) = answer
        .get("preferences")
        .and_then(|p| p.get("contexts"))
        .and_then(|c| c.get(context))
        .and_then(|c| c.get("preferences"))
    {
        let used = used_terms(applications);
        for term in prefs.keys() {
            if !used.contains(term.as_str()) {
                instructions.unsupported.push(UnsupportedTerm {
                    term: term.clone(),
                    reason: "the cloud chose no solution on this computer for it".to_owned(),
                });
            }
        }
    }
    Ok(instructions)
}

/// Turns one context's `applications` block of a `matchMakerOutput` into instructions, as GPII's
/// `gpii.transformer.configurationToSettings` does, plus validation and provenance.
///
/// Per solution and settings handler: the handler's `capabilitiesTransformations` are applied to
/// the solution's settings when any of those settings is among the handler's capabilities; the
/// application block's values (only those named in `supportedSettings`) override the
/// transformed ones. A handler left with no settings is left out. A setting whose value breaks
/// its schema, or that the handler does not list in a non-empty `supportedSettings`, is moved to
/// `invalid`. The launch wish is the solution's `/enabled` preference (application block first,
/// then the common term) for an `/enabled` term the solution lists in `capabilities`, and
/// otherwise `active`. (GPII itself starts every chosen solution and lets the last-listed setting
/// decide its launch handler's `running`; we take the person's `/enabled` wish instead.)
///
/// `registry_entries` is this computer's registry: a chosen solution it has no entry for, and
/// a term or application-block setting its entry does not use, are listed in `unsupported`
/// (docs/design.md §10.1), never written.
pub fn instructions_from_configuration(
    applications: &Map<String, Value>,
    registry_entries: &SolutionsRegistry,
) -> Result<LifecycleInstructions, ModelError> {
    instructions(applications, registry_entries, &|id, e| {
        SolutionPrep::new(id, e).map(Cow::Owned)
    })
}

/// How [`instructions`] finds what a solution needs: worked out now, or kept by a [`Matcher`].
type PrepOf<'a> = dyn Fn(&str, &SolutionEntry) -> Result<Cow<'a, SolutionPrep>, ModelError> + 'a;

/// [`instructions_from_configuration`], with what each solution needs from `prep_of`.
fn instructions<'a>(
    applications: &Map<String, Value>,
    registry_entries: &SolutionsRegistry,
    prep_of: &PrepOf<'a>,
) -> Result<LifecycleInstructions, ModelError> {
    let mut out = LifecycleInstructions::default();
    let empty = Map::new();
    for (id, app) in applications {
        let app_term = format!("{APPLICATIONS_PREFIX}{id}");
        let Some(entry) = registry_entries.get(id) else {
            out.unsupported.push(UnsupportedTerm {
                term: app_term,
                reason: format!(
                    "the cloud asked for `{id}`, which this computer's solutions registry does not know"
                ),
            });
            continue;
        };
        let settings = app
            .get("settings")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let active = app.get("active").and_then(Value::as_bool).unwrap_or(false);
        let prep = prep_of(id, entry)?;
        out.unsupported
            .extend(unknown_requests(id, entry, &prep.heads, settings));

        let mut sol = SolutionInstructions::default();
        for (handler_name, spec) in &entry.settings_handlers {
            let no_prep = HandlerPrep::default();
            let handler_prep = prep.handlers.get(handler_name).unwrap_or(&no_prep);
            let (values, provenance) =
                handler_settings(id, handler_name, spec, handler_prep, settings)?;
            let mut handler = HandlerInstructions {
                handler_type: spec.handler_type.clone(),
                options: spec.options.clone(),
                ..HandlerInstructions::default()
            };
            for (setting, value) in values {
                let value = js_numbers(value);
                let terms: Vec<String> = provenance
                    .get(&setting)
                    .map(|t| t.iter().cloned().collect())
                    .unwrap_or_default();
                let rule = match spec.supported_settings.get(&setting) {
                    Some(s) => validate::check(&value, &s.schema).err(),
                    None if spec.supported_settings.is_empty() => {
                        validate::check(&value, &Value::Null).err()
                    }
                    None => Some("is not a supported setting of this handler".to_owned()),
                };
                if let Some(rule) = rule {
                    out.invalid.push(InvalidSetting {
                        solution: id.clone(),
                        handler: handler_name.clone(),
                        setting,
                        terms,
                        rule,
                    });
                    continue;
                }
                if !terms.is_empty() {
                    handler.provenance.insert(setting.clone(), terms);
                }
                handler.settings.insert(setting, value);
            }
            if !handler.settings.is_empty() {
                sol.settings_handlers.insert(handler_name.clone(), handler);
            }
        }
        if let Some((_, launcher)) = entry.launch_handlers.iter().next() {
            sol.launch = Some(LaunchInstruction {
                handler_type: launcher.handler_type.clone(),
                options: launcher.options.clone(),
                enabled: launch_wish(entry, &app_term, settings).unwrap_or(active),
            });
        }
        out.solutions.insert(id.clone(), sol);
    }
    Ok(out)
}

/// What `settings` (a chosen solution's settings in a `matchMakerOutput`) ask of solution `id`
/// that this computer's `entry` for it does not use: common terms outside its capabilities,
/// and application-block settings none of its handlers lists in `supportedSettings`. Such
/// values would be dropped anyway; they are listed so the report says so (docs/design.md §10.1).
fn unknown_requests(
    id: &str,
    entry: &SolutionEntry,
    heads: &BTreeSet<String>,
    settings: &Map<String, Value>,
) -> Vec<UnsupportedTerm> {
    let app_term = format!("{APPLICATIONS_PREFIX}{id}");
    let takes_any = entry
        .settings_handlers
        .values()
        .any(|h| h.supported_settings.is_empty());
    let known_setting = |name: &str| {
        takes_any
            || entry
                .settings_handlers
                .values()
                .any(|h| h.supported_settings.contains_key(name))
    };
    let unknown_term = |term: &str| {
        UnsupportedTerm {
        term: term.to_owned(),
        reason: format!(
            "the cloud asked `{id}` to carry this term, which this computer's registry entry for it does not use"
        ),
    }
    };
    let mut out = Vec::new();
    for (key, value) in settings {
        if *key == app_term {
            let Value::Object(block) = value else {
                continue;
            };
            for name in block.keys() {
                if name.starts_with(COMMON_PREFIX) {
                    if !heads.contains(name) {
                        out.push(unknown_term(name));
                    }
                } else if !known_setting(name) {
                    out.push(UnsupportedTerm {
                        term: app_term.clone(),
                        reason: format!(
                            "the cloud asked to set `{name}`, which this computer's registry does not know for `{id}`"
                        ),
                    });
                }
            }
        } else if !(key.starts_with(COMMON_PREFIX) && heads.contains(key)) {
            out.push(unknown_term(key));
        }
    }
    out
}

/// Every capability of a solution (EL paths, escaped as written in the registry): its
/// `capabilities` list and the input paths of each handler's `capabilitiesTransformations`.
/// Fails when a transformation cannot be read, naming the solution and handler.
pub fn capabilities(id: &str, entry: &SolutionEntry) -> Result<Vec<String>, ModelError> {
    let mut paths = Vec::new();
    for (name, handler) in &entry.settings_handlers {
        if let Some(rules) = &handler.capabilities_transformations {
            paths.extend(transform::input_paths(rules).map_err(|e| in_handler(e, id, name))?);
        }
    }
    paths.extend(entry.capabilities.iter().cloned());
    Ok(paths)
}

/// Checks every solution's transformations can be read, so a broken registry is reported when
/// it is loaded rather than at someone's key-in.
pub fn check_registry(registry: &SolutionsRegistry) -> Result<(), ModelError> {
    registry
        .solutions
        .iter()
        .try_for_each(|(id, entry)| capabilities(id, entry).map(|_| ()))
}

/// Rewrites numbers as JavaScript's `JSON.stringify` writes them (kept here for the callers
/// that know it as the matchmaker's; it lives with the number rules in [`crate::validate`]).
pub use crate::validate::js_numbers;

// ---------------------------------------------------------------------------------------------
// Matching

/// One installed solution, prepared for matching.
#[derive(Debug, Clone)]
struct Candidate {
    id: String,
    /// The first segment of each capability's path: the terms it carries out.
    heads: BTreeSet<String>,
    /// The capabilities that are a single term, which GPII's `filterPreferencesForSolution`
    /// passes on to the solution.
    singles: BTreeSet<String>,
    /// Paths in GPII's matching space (see [`match_space`]).
    skeleton: Vec<Vec<String>>,
    types: Vec<&'static str>,
}

/// The registry entries of the solutions installed on `device`.
pub fn installed_entries(registry: &SolutionsRegistry, device: &DeviceReport) -> SolutionsRegistry {
    SolutionsRegistry {
        solutions: registry
            .solutions
            .iter()
            .filter(|(id, _)| device.has(id))
            .map(|(id, e)| (id.clone(), e.clone()))
            .collect(),
    }
}

fn candidates(installed: &SolutionsRegistry) -> Result<Vec<Candidate>, ModelError> {
    installed
        .solutions
        .iter()
        .map(|(id, entry)| {
            let capabilities = capabilities(id, entry)?;
            let parsed: Vec<Vec<String>> = capabilities.iter().map(|c| path::parse(c)).collect();
            let mut skeleton: Vec<Vec<String>> =
                parsed.iter().flat_map(|p| match_space(p)).collect();
            // GPII adds the solution's own application term to its skeleton.
            skeleton.push(app_space(id, &["id"]));
            skeleton.push(app_space(id, &["parameters"]));
            let heads: BTreeSet<&str> = parsed
                .iter()
                .filter_map(|p| p.first().map(String::as_str))
                .collect();
            let types = EXCLUSIVE_TYPES
                .iter()
                .filter(|(_, terms)| terms.iter().any(|t| heads.contains(t)))
                .map(|(t, _)| *t)
                .collect();
            let singles = parsed
                .iter()
                .filter_map(|p| match p.as_slice() {
                    [one] => Some(one.clone()),
                    _ => None,
                })
                .collect();
            Ok(Candidate {
                id: id.clone(),
                heads: heads.iter().map(|h| (*h).to_owned()).collect(),
                singles,
                skeleton,
                types,
            })
        })
        .collect()
}

/// Whether a common term can select a solution in GPII's flat matchmaker.
fn matchable(term: &str) -> bool {
    term.starts_with(COMMON_PREFIX) && !GPII_UNMAPPED_TERMS.contains(&term)
}

fn application_id(term: &str) -> Option<&str> {
    term.find(APPLICATION_MARKER)
        .map(|i| &term[i + APPLICATION_MARKER.len()..])
}

fn app_space(id: &str, rest: &[&str]) -> Vec<String> {
    let mut p = vec!["\u{0}applications".to_owned(), id.to_owned()];
    p.extend(rest.iter().map(|s| (*s).to_owned()));
    p
}

/// Maps a flat path (term + inner segments) into the space GPII matches in: a matchable common
/// term keeps its path; an application block `X` becomes `applications.X.id` and
/// `applications.X.parameters.<inner>`; anything else has no place there.
fn match_space(flat: &[String]) -> Vec<Vec<String>> {
    let Some((head, rest)) = flat.split_first() else {
        return Vec::new();
    };
    if let Some(id) = application_id(head) {
        let mut params = app_space(id, &["parameters"]);
        params.extend(rest.iter().cloned());
        return vec![app_space(id, &["id"]), params];
    }
    if matchable(head) {
        return vec![flat.to_vec()];
    }
    Vec::new()
}

/// The primitive leaves of a preference value, as paths below it (GPII's `computeLeaves`).
fn leaves(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(m) => {
            for (k, v) in m {
                prefix.push(k.clone());
                leaves(v, prefix, out);
                prefix.pop();
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                prefix.push(i.to_string());
                leaves(v, prefix, out);
                prefix.pop();
            }
        }
        _ => out.push(prefix.clone()),
    }
}

fn preference_leaves(prefs: &BTreeMap<String, Value>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (term, value) in prefs {
        if let Some(id) = application_id(term) {
            // GPII's ISO view: {"applications": {X: {"id": X, "parameters": value}}}.
            out.push(app_space(id, &["id"]));
            leaves(value, &mut app_space(id, &["parameters"]), &mut out);
        } else if matchable(term) {
            leaves(value, &mut vec![term.clone()], &mut out);
        }
    }
    out
}

/// Priority of a solution in one context: `None` is JavaScript's `undefined`.
type Priority = Option<Value>;

fn priority_number(p: &Priority) -> f64 {
    match p {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::Bool(true)) => 1.0,
        Some(Value::String(s)) if !s.is_empty() => s.trim().parse().unwrap_or(f64::NAN),
        Some(Value::Array(_) | Value::Object(_)) => f64::NAN,
        _ => 0.0,
    }
}

/// GPII's `disposeSolutions` with the flat strategy and apptology, for one context: the ids of
/// the accepted solutions.
fn dispose<'a>(
    prefs: &BTreeMap<String, Value>,
    metadata: Option<&Value>,
    candidates: &'a [Candidate],
) -> BTreeSet<&'a str> {
    let mut priority: BTreeMap<&str, Priority> = BTreeMap::new();
    for term in prefs.keys() {
        if let Some(id) = application_id(term) {
            if let Some(c) = candidates.iter().find(|c| c.id == id) {
                priority.insert(&c.id, Some(Value::from(APP_SETTING_PRIORITY as u64)));
            }
        }
    }
    for entry in metadata_entries(metadata) {
        if entry.get("type").and_then(Value::as_str) != Some("priority") {
            continue;
        }
        for scope in array_or_values(entry.get("scope")) {
            let Some(scope) = scope.as_str() else {
                continue;
            };
            let id = scope.get(APPLICATIONS_PREFIX.len()..).unwrap_or("");
            if let Some(c) = candidates.iter().find(|c| c.id == id) {
                priority.insert(&c.id, entry.get("value").cloned());
            }
        }
    }

    let pref_leaves = preference_leaves(prefs);
    let mut active: BTreeSet<&str> = candidates
        .iter()
        .filter(|c| {
            priority.get(c.id.as_str()).is_some_and(Option::is_some)
                || pref_leaves.iter().any(|leaf| {
                    c.skeleton
                        .iter()
                        .any(|s| s.len() >= leaf.len() && s[..leaf.len()] == leaf[..])
                })
        })
        .map(|c| c.id.as_str())
        .collect();

    // Apptology, type by type in order of first appearance.
    let mut types: Vec<&str> = Vec::new();
    for c in candidates {
        for t in &c.types {
            if !types.contains(t) {
                types.push(t);
            }
        }
    }
    for t in types {
        let of_type: Vec<&Candidate> = candidates.iter().filter(|c| c.types.contains(&t)).collect();
        if of_type.len() < 2 {
            continue;
        }
        let mut best: Option<(&str, f64)> = None;
        for c in of_type.iter().filter(|c| active.contains(c.id.as_str())) {
            let p = priority_number(priority.get(c.id.as_str()).unwrap_or(&None));
            match best {
                None => best = Some((c.id.as_str(), p)),
                Some((_, bp)) if p > bp => best = Some((c.id.as_str(), p)),
                _ => {}
            }
        }
        if let Some((winner, _)) = best {
            for c in &of_type {
                if c.id != winner {
                    active.remove(c.id.as_str());
                }
            }
        }
    }
    active
}

fn metadata_entries(metadata: Option<&Value>) -> Vec<&Map<String, Value>> {
    array_or_values(metadata)
        .into_iter()
        .filter_map(Value::as_object)
        .collect()
}

/// The members of an array or the values of an object (Infusion's `fluid.each`).
fn array_or_values(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(Value::Object(m)) => m.values().collect(),
        _ => Vec::new(),
    }
}

/// GPII's `filterPreferencesForSolution`: the context's preferences a solution supports.
fn settings_for_solution(
    id: &str,
    prefs: &BTreeMap<String, Value>,
    supported: &BTreeSet<String>,
) -> Map<String, Value> {
    let app_term = format!("{APPLICATIONS_PREFIX}{id}");
    let mut filtered: Map<String, Value> =
        prefs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    if let Some(Value::Object(block)) = filtered.get_mut(&app_term) {
        let lifted: Vec<String> = block
            .keys()
            .filter(|k| k.starts_with(COMMON_PREFIX))
            .cloned()
            .collect();
        let lifted: Vec<(String, Value)> = lifted
            .into_iter()
            .filter_map(|k| block.remove(&k).map(|v| (k, v)))
            .collect();
        filtered.extend(lifted);
    }
    filtered.retain(|term, _| {
        (term.starts_with(COMMON_PREFIX) && supported.contains(term)) || term.starts_with(&app_term)
    });
    filtered
}

/// The preference-set document as GPII's preferences server hands it to the flow manager
/// (`rawPrefsToOntology(…, "flat")`): the `flat` block's `name`, `contexts` (context members that
/// are empty arrays dropped) and `metadata` (as an array, dropped when empty).
fn gpii_preferences(prefs: &PreferenceSet) -> Value {
    let mut m = Map::new();
    if let Some(name) = &prefs.flat.name {
        m.insert("name".to_owned(), Value::String(name.clone()));
    }
    let mut contexts = Map::new();
    for (name, ctx) in &prefs.flat.contexts {
        let mut v = serde_json::to_value(ctx).unwrap_or(Value::Null);
        if let Value::Object(c) = &mut v {
            c.retain(|_, val| !matches!(val, Value::Array(a) if a.is_empty()));
        }
        contexts.insert(name.clone(), v);
    }
    m.insert("contexts".to_owned(), Value::Object(contexts));
    let metadata = match &prefs.flat.metadata {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => vec![other.clone()],
    };
    if !metadata.is_empty() {
        m.insert("metadata".to_owned(), Value::Array(metadata));
    }
    Value::Object(m)
}

/// What GPII's `extractAllowedPreferences` records for a term.
enum Allowed {
    /// A common term some chosen solution uses.
    Term,
    /// An application block (marker `{}` or the block's value in a solution's settings).
    Block(Value),
}

/// GPII's `filterPreferencesFromInferredConfig`.
fn filter_preferences(gpii_prefs: &Value, inferred: &Value) -> Value {
    let mut allowed: BTreeMap<String, Allowed> = BTreeMap::new();
    if let Value::Object(contexts) = inferred {
        for ctx in contexts.values() {
            let Some(Value::Object(apps)) = ctx.get("applications") else {
                continue;
            };
            for (id, app) in apps {
                allowed.insert(
                    format!("{APPLICATIONS_PREFIX}{id}"),
                    Allowed::Block(Value::Object(Map::new())),
                );
                if let Some(Value::Object(settings)) = app.get("settings") {
                    for (term, val) in settings {
                        let a = if term.starts_with(APPLICATIONS_PREFIX) {
                            Allowed::Block(val.clone())
                        } else {
                            Allowed::Term
                        };
                        allowed.insert(term.clone(), a);
                    }
                }
            }
        }
    }
    let is_term = |t: &str| matches!(allowed.get(t), Some(Allowed::Term));

    let mut out = gpii_prefs.clone();
    if let Some(Value::Object(contexts)) = out.get_mut("contexts") {
        for ctx in contexts.values_mut() {
            let Some(Value::Object(prefs)) = ctx.get_mut("preferences") else {
                continue;
            };
            prefs.retain(|term, val| {
                if term.starts_with(APPLICATIONS_PREFIX) {
                    let Some(Allowed::Block(block)) = allowed.get(term.as_str()) else {
                        return is_term(term);
                    };
                    if let Value::Object(inner) = val {
                        inner.retain(|app_term, _| {
                            is_term(app_term) || block.get(app_term.as_str()).is_some()
                        });
                    }
                    true
                } else {
                    is_term(term)
                }
            });
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Instructions

/// Settings paths a solution's settings ask for (GPII's `computeDemandedSettingsPaths`), parsed.
fn demanded_paths(settings: &Map<String, Value>) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    for (key, value) in settings {
        if key.starts_with("http://registry.gpii.net/") {
            out.insert(vec![key.clone()]);
        }
        if let Value::Object(inner) = value {
            for sub in inner.keys() {
                if sub.starts_with("http://registry.gpii.net/") {
                    out.insert(vec![sub.clone()]);
                } else {
                    out.insert(vec![key.clone(), sub.clone()]);
                }
            }
        }
    }
    out
}

type Provenance = BTreeMap<String, BTreeSet<String>>;

/// What carrying out one installed solution needs from its registry entry alone.
#[derive(Debug, Clone)]
struct SolutionPrep {
    /// The terms its capabilities carry out.
    heads: BTreeSet<String>,
    /// Each settings handler's, by name.
    handlers: BTreeMap<String, HandlerPrep>,
}

impl SolutionPrep {
    /// Fails when a transformation cannot be read, naming the solution and handler.
    fn new(id: &str, entry: &SolutionEntry) -> Result<SolutionPrep, ModelError> {
        let handlers = entry
            .settings_handlers
            .iter()
            .map(|(name, spec)| {
                HandlerPrep::new(spec)
                    .map(|p| (name.clone(), p))
                    .map_err(|e| in_handler(e, id, name))
            })
            .collect::<Result<_, _>>()?;
        Ok(SolutionPrep {
            heads: capability_heads(&capabilities(id, entry)?),
            handlers,
        })
    }
}

/// What matching needs of one settings handler's `capabilitiesTransformations`, worked out from
/// the registry alone: the paths that feed it, and each top-level rule on its own with the terms
/// it reads (for provenance).
#[derive(Debug, Clone, Default)]
struct HandlerPrep {
    /// The handler's `capabilities` and its transformations' input paths, parsed.
    feeds: BTreeSet<Vec<String>>,
    /// Each top-level rule as a rule set of its own, and the terms (first path segments) it reads.
    rules: Vec<(Value, BTreeSet<String>)>,
}

impl HandlerPrep {
    fn new(spec: &SettingsHandlerSpec) -> Result<HandlerPrep, ModelError> {
        let Some(rules) = &spec.capabilities_transformations else {
            return Ok(HandlerPrep::default());
        };
        let inputs = transform::input_paths(rules)?;
        let feeds = spec
            .capabilities
            .iter()
            .chain(inputs.iter())
            .map(|p| path::parse(p))
            .collect();
        let mut singles = Vec::new();
        if let Value::Object(rules) = rules {
            for (key, rule) in rules {
                let mut single = Map::new();
                single.insert(key.clone(), rule.clone());
                let single = Value::Object(single);
                let terms = transform::input_paths(&single)?
                    .iter()
                    .filter_map(|p| path::parse(p).into_iter().next())
                    .collect();
                singles.push((single, terms));
            }
        }
        Ok(HandlerPrep {
            feeds,
            rules: singles,
        })
    }
}

/// The settings one handler gets (GPII's `transformOneSettingsHandler`), with provenance.
fn handler_settings(
    id: &str,
    handler_name: &str,
    spec: &SettingsHandlerSpec,
    prep: &HandlerPrep,
    settings: &Map<String, Value>,
) -> Result<(Map<String, Value>, Provenance), ModelError> {
    let app_term = format!("{APPLICATIONS_PREFIX}{id}");
    let mut own: Option<Map<String, Value>> =
        settings.get(&app_term).and_then(|v| v.as_object().cloned());
    let mut scoped = Map::new();
    if let Some(own) = &mut own {
        let commons: Vec<String> = own
            .keys()
            .filter(|k| k.starts_with(COMMON_PREFIX))
            .cloned()
            .collect();
        for k in commons {
            if let Some(v) = own.remove(&k) {
                scoped.insert(k, v);
            }
        }
        if !spec.supported_settings.is_empty() {
            own.retain(|k, _| spec.supported_settings.contains_key(k));
        }
    }

    let mut provenance = Provenance::new();
    let mut result = Value::Object(Map::new());
    if let Some(rules) = spec
        .capabilities_transformations
        .as_ref()
        .filter(|_| supports_any(prep, settings))
    {
        let input = Value::Object(settings.clone());
        let ctx = |e| in_handler(e, id, handler_name);
        let inferred = transform::transform(rules, &input).map_err(ctx)?;
        deep_extend(&mut result, &inferred);
        attribute(prep, &input, &mut provenance).map_err(ctx)?;
        if !scoped.is_empty() {
            let scoped = Value::Object(scoped);
            let inferred = transform::transform(rules, &scoped).map_err(ctx)?;
            deep_extend(&mut result, &inferred);
            attribute(prep, &scoped, &mut provenance).map_err(ctx)?;
        }
    }
    if let Some(own) = own {
        for k in own.keys() {
            provenance.insert(k.clone(), BTreeSet::from([app_term.clone()]));
        }
        deep_extend(&mut result, &Value::Object(own));
    }
    let Value::Object(result) = result else {
        return Ok((Map::new(), provenance));
    };
    Ok((result, provenance))
}

/// GPII's `hasSupportedSettings`: does any of the solution's settings feed this handler?
fn supports_any(prep: &HandlerPrep, settings: &Map<String, Value>) -> bool {
    demanded_paths(settings)
        .iter()
        .any(|p| prep.feeds.contains(p))
}

/// Which preference terms each output setting of `rules` reads: every top-level rule is run on
/// its own and its outputs are credited with the rule's input terms present in `input`.
fn attribute(
    prep: &HandlerPrep,
    input: &Value,
    provenance: &mut Provenance,
) -> Result<(), ModelError> {
    for (single, reads) in &prep.rules {
        let Value::Object(out) = transform::transform(single, input)? else {
            continue;
        };
        let terms: BTreeSet<&String> = reads
            .iter()
            .filter(|t| input.get(t.as_str()).is_some())
            .collect();
        for setting in out.keys() {
            provenance
                .entry(setting.clone())
                .or_default()
                .extend(terms.iter().map(|t| (*t).clone()));
        }
    }
    Ok(())
}

/// Infusion's `fluid.extend(true, target, source)`: objects merge key by key, arrays index by
/// index, anything else replaces.
fn deep_extend(target: &mut Value, source: &Value) {
    crate::transform::merge(target, source, crate::transform::Arrays::ByIndex);
}

/// The person's `/enabled` wish for a solution (GPII's `getActiveValueFromEnabledTerms`): for
/// each `/enabled` term in the solution's `capabilities`, the value in its application block,
/// else the common term; the last such term decides. Non-boolean values are ignored.
fn launch_wish(
    entry: &SolutionEntry,
    app_term: &str,
    settings: &Map<String, Value>,
) -> Option<bool> {
    let mut wish = None;
    for cap in &entry.capabilities {
        let segs = path::parse(cap);
        let [term] = segs.as_slice() else { continue };
        if !term.ends_with("/enabled") {
            continue;
        }
        let v = settings
            .get(app_term)
            .and_then(|b| b.get(term.as_str()))
            .or_else(|| settings.get(term.as_str()));
        if let Some(v) = v {
            wish = v.as_bool();
        }
    }
    wish
}

pub(crate) fn in_handler(e: ModelError, id: &str, handler: &str) -> ModelError {
    match e {
        ModelError::Transform { at, detail } => ModelError::Transform {
            at: path::join(
                &format!("{id}.settingsHandlers.{handler}.capabilitiesTransformations"),
                &at,
            ),
            detail,
        },
        other => other,
    }
}

/// Terms some chosen solution uses (keys of its settings, and its own application term).
fn used_terms(applications: &Map<String, Value>) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (id, app) in applications {
        used.insert(format!("{APPLICATIONS_PREFIX}{id}"));
        if let Some(Value::Object(s)) = app.get("settings") {
            used.extend(s.keys().cloned());
        }
    }
    used
}

/// The first segment of each capability's path: the terms the capabilities carry out.
fn capability_heads(capabilities: &[String]) -> BTreeSet<String> {
    capabilities
        .iter()
        .filter_map(|c| path::parse(c).into_iter().next())
        .collect()
}

#[cfg(test)]
mod tests;
