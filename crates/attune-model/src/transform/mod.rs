//! Infusion model transformations (`fluid.model.transformWithRules`), as GPII's solutions
//! registries use them in `capabilitiesTransformations`.
//!
//! A rules document maps output EL paths to rules. A rule is
//! - a string: the input EL path to copy (shorthand of `fluid.transforms.value`);
//! - `{ "literalValue": v }`: the value `v` itself;
//! - `{ "transform": spec }` or `{ "transform": [spec, …] }`: transforms, each a `type` and its
//!   options (the types implemented are listed below);
//! - any other object: nested rules, whose keys extend the output path.
//!
//! The key `"transform"` may also sit directly in a rules object; its transforms then write
//! only where their own `outputPath` says (relative to the current output path; `""` is here).
//!
//! The evaluation follows Infusion 3 (`ModelTransformation.js`): a transform whose input is
//! absent produces nothing; outputs are queued and written shortest path first (by the length
//! of the path string, as Infusion sorts them), objects merging into objects. Numbers are
//! JavaScript numbers: integral results are written as integers, as `JSON.stringify` writes
//! them.
//!
//! Transform types (with or without the `fluid.transforms.` prefix): `value` (`identity`),
//! `literalValue`, `linearScale`, `binaryOp`, `condition`, `valueMapper`, `quantize`, `round`,
//! `arrayToSetMembership`, `setMembershipToArray`, `firstValue`, `delete`, `count`,
//! `inRange`, `limitRange`, `stringToNumber`, `numberToString`, `booleanToString`,
//! `stringToBoolean`, and GPII's `gpii.transformer.booleanToNumber`.
//!
//! Where Infusion would throw (a `null` rule, a missing or unknown transform type, a
//! `valueMapper` without `match`, an `arrayToSetMembership` input that is not an array…) we
//! return [`ModelError::Transform`] naming the rule's place in the rules document. Where it
//! would crash writing below a primitive, we replace the primitive by an object. Wildcard
//! (`*`) paths are not supported (GPII's registries do not use them) and are an error.
//!
//! One difference remains: JSON objects are visited in key order (serde_json's map is sorted),
//! where JavaScript visits them in document order. It shows only in the order of
//! `setMembershipToArray`'s output and when two rules write paths of equal length at the same
//! place (the later one wins).
//!
//! The table tests in `tests/data/transforms/` hold Infusion's own outputs, and
//! `tests/transforms.rs` compares this module with Infusion (run through Node) over every
//! transformation of GPII's Linux and Windows registries when `GPII_UNIVERSAL_DIR` is set.
//!
//! ```
//! use serde_json::json;
//! let rules = json!({"text-scaling-factor": {"transform": {
//!     "type": "fluid.transforms.linearScale",
//!     "inputPath": "http://registry\\.gpii\\.net/common/fontSize",
//!     "factor": 0.08333333333333333}}});
//! let prefs = json!({"http://registry.gpii.net/common/fontSize": 24});
//! let out = attune_model::transform::transform(&rules, &prefs).unwrap();
//! assert_eq!(out, json!({"text-scaling-factor": 2}));
//! ```

mod js;
mod kinds;

use serde_json::{Map, Value};

use crate::error::ModelError;
use crate::path;
use kinds::Kind;

/// How deeply rules may nest (rules within rules, transforms within transforms) before we
/// refuse them: deep enough for any registry, shallow enough that recursion cannot exhaust
/// the stack.
pub const MAX_DEPTH: usize = 64;

/// Evaluates transformation `rules` against `input`, returning the output document.
/// Outputs whose inputs are absent are left out (Infusion's "undefined" propagation).
///
/// The rules must be an object. Errors name the rule (its path in the rules document) and say
/// what was wrong with it.
pub fn transform(rules: &Value, input: &Value) -> Result<Value, ModelError> {
    let mut engine = Engine::new(Mode::Transform, input);
    engine.top(rules)?;
    Ok(engine.finish())
}

/// Every EL input path the rules may read (the capabilities they imply), as written in the
/// rules (escapes kept), each once, in the order first met.
///
/// Follows Infusion's `fluid.model.transform.collectInputPaths`, and also counts the paths read
/// by `firstValue` alternatives and by `valueMapper` outputs (`outputValuePath`, nested
/// transforms), which Infusion's collector skips although the transforms read them.
pub fn input_paths(rules: &Value) -> Result<Vec<String>, ModelError> {
    let empty = Value::Null;
    let mut engine = Engine::new(Mode::Collect, &empty);
    engine.top(rules)?;
    let mut seen = std::collections::HashSet::new();
    Ok(engine
        .inputs
        .into_iter()
        .filter(|p| seen.insert(p.clone()))
        .collect())
}

/// `None` is JavaScript's `undefined`: no value at all (different from `null`).
type Js = Option<Value>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Evaluate the rules against a source document.
    Transform,
    /// Only collect the input paths the rules read.
    Collect,
}

/// A queued write to the output document (Infusion's change requests).
enum Change {
    Add(String, Value),
    Delete(String),
}

impl Change {
    fn path(&self) -> &str {
        match self {
            Change::Add(p, _) | Change::Delete(p) => p,
        }
    }
}

/// The transformer: Infusion's `transformer` object with its output-prefix stack.
struct Engine<'a> {
    mode: Mode,
    source: &'a Value,
    /// The current output path (escaped EL, as composed from the rule keys).
    out_prefix: String,
    /// Where we are in the rules document, for error messages.
    loc: Vec<String>,
    depth: usize,
    changes: Vec<Change>,
    /// Output paths whose rule was an array: missing containers there are created as arrays.
    array_paths: Vec<Vec<String>>,
    inputs: Vec<String>,
}

impl<'a> Engine<'a> {
    fn new(mode: Mode, source: &'a Value) -> Self {
        Engine {
            mode,
            source,
            out_prefix: String::new(),
            loc: Vec::new(),
            depth: 0,
            changes: Vec::new(),
            array_paths: Vec::new(),
            inputs: Vec::new(),
        }
    }

    fn top(&mut self, rules: &Value) -> Result<(), ModelError> {
        if !rules.is_object() {
            return Err(self.error(format!(
                "rules must be an object mapping output paths to rules, found {}",
                crate::json_type_name(rules)
            )));
        }
        self.expand(rules).map(|_| ())
    }

    /// An error at the current place in the rules document.
    fn error(&self, detail: impl Into<String>) -> ModelError {
        ModelError::Transform {
            at: self.loc.join("."),
            detail: detail.into(),
        }
    }

    /// Infusion's `transformer.expand` / `processRule`: evaluates one rule, writing any nested
    /// outputs, and returns the rule's own value (for its parent to write).
    fn expand(&mut self, rule: &Value) -> Result<Js, ModelError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!("rules nest deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        let result = self.process_rule(rule);
        self.depth -= 1;
        result
    }

    fn process_rule(&mut self, rule: &Value) -> Result<Js, ModelError> {
        match rule {
            Value::String(p) => self.handle_kind(Kind::Value, &value_spec(p)),
            Value::Null => {
                Err(self.error("a rule must be a path, an object or an array, found null"))
            }
            Value::Bool(_) | Value::Number(_) => Ok(None),
            Value::Array(items) => {
                self.array_paths.push(path::parse(&self.out_prefix));
                for (i, item) in items.iter().enumerate() {
                    self.nested_output(&i.to_string(), item)?;
                }
                Ok(None)
            }
            Value::Object(m) => {
                if let Some(lit) = m.get("literalValue") {
                    // Infusion replaces the whole rule by a literalValue transform.
                    self.loc.push("literalValue".to_owned());
                    let r = self.handle_kind(Kind::LiteralValue, &literal_spec(lit));
                    self.loc.pop();
                    return r;
                }
                let mut togo = None;
                if let Some(t) = m.get("transform").filter(|t| js::truthy(Some(t))) {
                    self.loc.push("transform".to_owned());
                    let r = self.transform_slot(t);
                    self.loc.pop();
                    togo = r?;
                }
                for (key, value) in m {
                    if key != "transform" {
                        self.nested_output(key, value)?;
                    }
                }
                Ok(togo)
            }
        }
    }

    /// The value of a `transform` key: one spec (whose value is returned) or an array of
    /// specs (each responsible for its own output).
    fn transform_slot(&mut self, t: &Value) -> Result<Js, ModelError> {
        if let Value::Array(specs) = t {
            for (i, spec) in specs.iter().enumerate() {
                self.loc.push(i.to_string());
                let r = self.handle(spec);
                self.loc.pop();
                r?;
            }
            Ok(None)
        } else {
            self.handle(t)
        }
    }

    /// A key of a rules object other than `transform`: the rule under it writes at the
    /// output path extended by the key.
    fn nested_output(&mut self, key: &str, rule: &Value) -> Result<(), ModelError> {
        let inner = path::join(&self.out_prefix, key);
        let saved = std::mem::replace(&mut self.out_prefix, inner);
        self.loc.push(key.to_owned());
        let r = self.expand(rule);
        if let Ok(Some(v)) = r.as_ref() {
            self.set_value(None, v.clone())?;
        }
        self.loc.pop();
        self.out_prefix = saved;
        r.map(|_| ())
    }

    /// One transform spec: looks its type up and evaluates (or collects) it.
    fn handle(&mut self, spec: &Value) -> Result<Js, ModelError> {
        let Value::Object(m) = spec else {
            return Err(self.error(format!(
                "a transform must be an object with a \"type\", found {}",
                crate::json_type_name(spec)
            )));
        };
        let kind = match m.get("type") {
            None | Some(Value::Null) => {
                return Err(self.error("transform has no \"type\""));
            }
            Some(Value::String(t)) if t.is_empty() => {
                return Err(self.error("transform has an empty \"type\""));
            }
            Some(Value::String(t)) => Kind::lookup(t).ok_or_else(|| {
                self.error(format!(
                    "unknown transform type \"{t}\" (supported: {})",
                    Kind::supported_names()
                ))
            })?,
            Some(other) => {
                return Err(self.error(format!(
                    "transform \"type\" must be a string, found {}",
                    crate::json_type_name(other)
                )));
            }
        };
        self.handle_kind(kind, m)
    }

    fn handle_kind(&mut self, kind: Kind, spec: &Map<String, Value>) -> Result<Js, ModelError> {
        match self.mode {
            Mode::Transform => {
                self.refuse_wildcards(spec)?;
                self.do_transform(kind, spec)
                    .map_err(|e| self.wrap(kind, e))
            }
            Mode::Collect => self.collect(kind, spec).map(|()| None),
        }
    }

    /// Names the transform type in errors raised by its own checks.
    fn wrap(&self, kind: Kind, e: ModelError) -> ModelError {
        match e {
            ModelError::Transform { at, detail } if !detail.starts_with(kind.name()) => {
                ModelError::Transform {
                    at,
                    detail: format!("{}: {detail}", kind.name()),
                }
            }
            other => other,
        }
    }

    fn refuse_wildcards(&self, spec: &Map<String, Value>) -> Result<(), ModelError> {
        let has = |v: Option<&Value>| matches!(v, Some(Value::String(s)) if s.contains('*'));
        if has(spec.get("inputPath"))
            || has(spec.get("outputPath"))
            || self.out_prefix.contains('*')
        {
            return Err(self.error("wildcard (\"*\") paths are not supported"));
        }
        Ok(())
    }

    /// Infusion's `fluid.model.transform.getValue`: the value at `input_path` if there is
    /// one, else `value` itself (its `literalValue`, or its transform's result).
    fn get_value(
        &mut self,
        input_path: Option<&Value>,
        value: Option<&Value>,
    ) -> Result<Js, ModelError> {
        let mut togo = None;
        if let Some(p) = input_path {
            let p = self.path_str(p, "input path")?;
            if self.mode == Mode::Transform {
                togo = path::get(self.source, &p).cloned();
            }
        }
        if togo.is_none() {
            togo = match value {
                None => None,
                Some(v) if js::is_primitive(Some(v)) => Some(v.clone()),
                Some(Value::Object(m)) if m.contains_key("literalValue") => {
                    m.get("literalValue").cloned()
                }
                Some(v @ Value::Object(m)) if m.contains_key("transform") => self.expand(v)?,
                Some(v) => Some(v.clone()),
            };
        }
        Ok(togo)
    }

    /// A path given in a spec, as Infusion's `composePaths` reads it: strings as they are,
    /// numbers in their JavaScript form, `null` as the empty path.
    fn path_str(&self, p: &Value, what: &str) -> Result<String, ModelError> {
        match p {
            Value::String(s) => Ok(s.clone()),
            Value::Number(_) => Ok(js::to_string(Some(p))),
            Value::Null => Ok(String::new()),
            other => Err(self.error(format!(
                "{what} must be a string, found {}",
                crate::json_type_name(other)
            ))),
        }
    }

    /// Infusion's `setValue`: queues `value` for the current output path extended by
    /// `user_path`.
    fn set_value(&mut self, user_path: Option<&Value>, value: Value) -> Result<(), ModelError> {
        let rel = match user_path {
            Some(p) => self.path_str(p, "outputPath")?,
            None => String::new(),
        };
        self.changes
            .push(Change::Add(path::join(&self.out_prefix, &rel), value));
        Ok(())
    }

    fn queue_delete(&mut self, user_path: Option<&Value>) -> Result<(), ModelError> {
        let rel = match user_path {
            Some(p) => self.path_str(p, "outputPath")?,
            None => String::new(),
        };
        self.changes
            .push(Change::Delete(path::join(&self.out_prefix, &rel)));
        Ok(())
    }

    /// Records an input path (collect mode).
    fn note_input(&mut self, p: Option<&Value>) -> Result<(), ModelError> {
        if let Some(p) = p {
            let p = self.path_str(p, "input path")?;
            self.inputs.push(p);
        }
        Ok(())
    }

    /// Applies the queued changes, shortest path first (Infusion's `fireSortedChanges`
    /// compares the lengths of the path strings; the sort is stable).
    fn finish(mut self) -> Value {
        let mut changes = std::mem::take(&mut self.changes);
        changes.sort_by_key(|c| c.path().encode_utf16().count());
        let mut model = Value::Object(Map::new());
        for change in changes {
            match change {
                Change::Add(p, v) => add_at(&mut model, &path::parse(&p), &v, &self.array_paths),
                Change::Delete(p) => delete_at(&mut model, &path::parse(&p)),
            }
        }
        js::normalise_numbers(&mut model);
        model
    }
}

/// The spec a string rule stands for.
fn value_spec(input_path: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("type".to_owned(), Value::from("fluid.transforms.value"));
    m.insert("inputPath".to_owned(), Value::from(input_path));
    m
}

/// The spec a `{literalValue: v}` rule stands for.
fn literal_spec(v: &Value) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "type".to_owned(),
        Value::from("fluid.transforms.literalValue"),
    );
    m.insert("input".to_owned(), v.clone());
    m
}

/// Writes `value` at `segs` the way Infusion's change applier does an "ADD": missing
/// containers on the way are created (arrays where the rule was an array), primitives are
/// replaced, objects merge key by key and arrays of the same length element by element.
fn add_at(model: &mut Value, segs: &[String], value: &Value, array_paths: &[Vec<String>]) {
    let mut cur = model;
    for (i, seg) in segs.iter().enumerate() {
        let want_array = array_paths.iter().any(|p| p.as_slice() == &segs[..i]);
        if !cur.is_object() && !cur.is_array() {
            *cur = if want_array {
                Value::Array(Vec::new())
            } else {
                Value::Object(Map::new())
            };
        }
        cur = match cur {
            Value::Object(m) => m.entry(seg.clone()).or_insert(Value::Null),
            Value::Array(items) => {
                // A non-index property of an array never reaches JSON.
                let Ok(idx) = seg.parse::<usize>() else {
                    return;
                };
                if idx >= items.len() {
                    // Bounded by the path, which came from the rules: refuse absurd holes.
                    if idx > 1 << 16 {
                        return;
                    }
                    items.resize(idx + 1, Value::Null);
                }
                &mut items[idx]
            }
            _ => return,
        };
    }
    merge(cur, value, Arrays::SourceLength);
}

/// How [`merge`] treats an array in the source.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arrays {
    /// `fluid.extend`: element by element; a longer target keeps its tail.
    ByIndex,
    /// `applyChangeStrategy`: the target takes the source's length (a target array of another
    /// length, or no array, starts as `null`s), then element by element.
    SourceLength,
}

/// Infusion's deep merge of `source` into `target`: objects key by key, arrays as `arrays`
/// says, anything else replaces.
pub(crate) fn merge(target: &mut Value, source: &Value, arrays: Arrays) {
    match source {
        Value::Object(src) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in src {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v, arrays);
                }
            }
        }
        Value::Array(src) => {
            match (arrays, &mut *target) {
                (Arrays::ByIndex, Value::Array(t)) if t.len() < src.len() => {
                    t.resize(src.len(), Value::Null);
                }
                (Arrays::ByIndex, Value::Array(_)) => {}
                (Arrays::SourceLength, Value::Array(t)) if t.len() == src.len() => {}
                _ => *target = Value::Array(vec![Value::Null; src.len()]),
            }
            if let Value::Array(t) = target {
                for (slot, v) in t.iter_mut().zip(src) {
                    merge(slot, v, arrays);
                }
            }
        }
        primitive => *target = primitive.clone(),
    }
}

/// Infusion's "DELETE" change: removes the value at `segs` if it is there (an array element
/// becomes a hole, which JSON writes as `null`). Deleting the root leaves an empty object.
fn delete_at(model: &mut Value, segs: &[String]) {
    let Some((last, init)) = segs.split_last() else {
        *model = Value::Object(Map::new());
        return;
    };
    let mut cur = model;
    for seg in init {
        cur = match cur {
            Value::Object(m) => match m.get_mut(seg) {
                Some(v) => v,
                None => return,
            },
            Value::Array(items) => match seg.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(v) => v,
                None => return,
            },
            _ => return,
        };
    }
    match cur {
        Value::Object(m) => {
            m.remove(last);
        }
        Value::Array(items) => {
            if let Some(v) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *v = Value::Null;
            }
        }
        _ => {}
    }
}
