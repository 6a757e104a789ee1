//! The transform types: how each reads its inputs (Infusion's "grades") and what it computes.
//! Semantics from Infusion 3's `ModelTransformationTransforms.js` and GPII's `Transformer.js`.

use serde_json::{json, Map, Value};

use super::js::{self, num};
use super::{Engine, Js};
use crate::error::ModelError;
use crate::path;

/// A transform type we implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Value,
    LiteralValue,
    LinearScale,
    BinaryOp,
    Condition,
    ValueMapper,
    Quantize,
    Round,
    ArrayToSetMembership,
    SetMembershipToArray,
    FirstValue,
    Delete,
    Count,
    InRange,
    LimitRange,
    StringToNumber,
    NumberToString,
    BooleanToString,
    StringToBoolean,
    BooleanToNumber,
}

const ALL: [(Kind, &str); 21] = [
    (Kind::Value, "fluid.transforms.value"),
    (Kind::Value, "fluid.transforms.identity"),
    (Kind::LiteralValue, "fluid.transforms.literalValue"),
    (Kind::LinearScale, "fluid.transforms.linearScale"),
    (Kind::BinaryOp, "fluid.transforms.binaryOp"),
    (Kind::Condition, "fluid.transforms.condition"),
    (Kind::ValueMapper, "fluid.transforms.valueMapper"),
    (Kind::Quantize, "fluid.transforms.quantize"),
    (Kind::Round, "fluid.transforms.round"),
    (
        Kind::ArrayToSetMembership,
        "fluid.transforms.arrayToSetMembership",
    ),
    (
        Kind::SetMembershipToArray,
        "fluid.transforms.setMembershipToArray",
    ),
    (Kind::FirstValue, "fluid.transforms.firstValue"),
    (Kind::Delete, "fluid.transforms.delete"),
    (Kind::Count, "fluid.transforms.count"),
    (Kind::InRange, "fluid.transforms.inRange"),
    (Kind::LimitRange, "fluid.transforms.limitRange"),
    (Kind::StringToNumber, "fluid.transforms.stringToNumber"),
    (Kind::NumberToString, "fluid.transforms.numberToString"),
    (Kind::BooleanToString, "fluid.transforms.booleanToString"),
    (Kind::StringToBoolean, "fluid.transforms.stringToBoolean"),
    (Kind::BooleanToNumber, "gpii.transformer.booleanToNumber"),
];

/// Extra inputs a "multi-input" transform reads as `<name>` or `<name>Path`, with their
/// defaults (Infusion's `inputVariables`; `null` there means "no default").
fn input_variables(kind: Kind) -> &'static [(&'static str, Option<f64>)] {
    match kind {
        Kind::LinearScale => &[("factor", Some(1.0)), ("offset", Some(0.0))],
        Kind::BinaryOp => &[("left", None), ("right", None)],
        Kind::Condition => &[("true", None), ("false", None), ("condition", None)],
        _ => &[],
    }
}

impl Kind {
    /// Infusion's `lookupType`: a name without a dot is in `fluid.transforms`.
    pub(crate) fn lookup(name: &str) -> Option<Kind> {
        let full = if name.contains('.') {
            name.to_owned()
        } else {
            format!("fluid.transforms.{name}")
        };
        ALL.iter().find(|(_, n)| *n == full).map(|(k, _)| *k)
    }

    pub(crate) fn name(self) -> &'static str {
        ALL.iter()
            .find(|(k, _)| *k == self)
            .map_or("transform", |(_, n)| n)
    }

    pub(crate) fn supported_names() -> String {
        ALL.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
    }

    /// Reads `input`/`inputPath`, and produces nothing when that input is absent
    /// (`fluid.standardInputTransformFunction`).
    fn standard_input(self) -> bool {
        !matches!(
            self,
            Kind::LiteralValue
                | Kind::BinaryOp
                | Kind::Condition
                | Kind::ValueMapper
                | Kind::FirstValue
                | Kind::Delete
        )
    }

    /// Writes its result at `outputPath` when one is given
    /// (`fluid.standardOutputTransformFunction`).
    fn standard_output(self) -> bool {
        !matches!(self, Kind::ValueMapper | Kind::Delete)
    }
}

impl Engine<'_> {
    /// Infusion's `doTransform`.
    pub(super) fn do_transform(
        &mut self,
        kind: Kind,
        spec: &Map<String, Value>,
    ) -> Result<Js, ModelError> {
        let mut input = None;
        if kind.standard_input() {
            if !spec.contains_key("input") && !spec.contains_key("inputPath") {
                return Err(
                    self.error(format!("{}: needs \"input\" or \"inputPath\"", kind.name()))
                );
            }
            input = self.get_value(spec.get("inputPath"), spec.get("input"))?;
            if input.is_none() {
                return Ok(None);
            }
        }
        let input = input.unwrap_or(Value::Null);
        let transformed = self.compute(kind, spec, input)?;
        if kind.standard_output() {
            if let (Some(out), Some(v)) = (spec.get("outputPath"), transformed.as_ref()) {
                let out = out.clone();
                self.set_value(Some(&out), v.clone())?;
                return Ok(None);
            }
        }
        Ok(transformed)
    }

    /// One multi-input variable: `<name>Path` from the source, else `<name>` (a literal or a
    /// nested transform), else the default.
    fn variable(
        &mut self,
        spec: &Map<String, Value>,
        name: &str,
        default: Option<f64>,
    ) -> Result<Js, ModelError> {
        let v = self.get_value(spec.get(&format!("{name}Path")), spec.get(name))?;
        Ok(v.or_else(|| default.map(num)))
    }

    fn compute(
        &mut self,
        kind: Kind,
        spec: &Map<String, Value>,
        input: Value,
    ) -> Result<Js, ModelError> {
        let vars = input_variables(kind);
        Ok(match kind {
            Kind::Value => Some(input),
            Kind::LiteralValue => spec.get("input").cloned(),
            Kind::LinearScale => {
                let factor = self.variable(spec, vars[0].0, vars[0].1)?;
                let offset = self.variable(spec, vars[1].0, vars[1].1)?;
                match (input, factor, offset) {
                    (Value::Number(x), Some(Value::Number(f)), Some(Value::Number(o))) => {
                        let (x, f, o) = (
                            x.as_f64().unwrap_or(f64::NAN),
                            f.as_f64().unwrap_or(f64::NAN),
                            o.as_f64().unwrap_or(f64::NAN),
                        );
                        Some(num(x * f + o))
                    }
                    _ => None,
                }
            }
            Kind::BinaryOp => {
                let left = self.variable(spec, "left", None)?;
                let right = self.variable(spec, "right", None)?;
                let op = self.get_value(None, spec.get("operator"))?;
                match (left, right, op) {
                    (Some(l), Some(r), Some(Value::String(op))) => binary_op(&op, &l, &r),
                    _ => None,
                }
            }
            Kind::Condition => {
                let condition = self.variable(spec, "condition", None)?;
                if condition == Some(Value::Null) {
                    None
                } else if js::truthy(condition.as_ref()) {
                    self.variable(spec, "true", None)?
                } else {
                    self.variable(spec, "false", None)?
                }
            }
            Kind::ValueMapper => self.value_mapper(spec)?,
            Kind::Quantize => self.quantize(spec, &input)?,
            Kind::Round => Some(num(round_to_decimal(
                &input,
                spec.get("scale"),
                spec.get("method"),
            ))),
            Kind::ArrayToSetMembership => Some(self.array_to_set_membership(spec, &input)?),
            Kind::SetMembershipToArray => Some(self.set_membership_to_array(spec, &input)?),
            Kind::FirstValue => {
                let values = match spec.get("values") {
                    Some(Value::Array(v)) if !v.is_empty() => v,
                    _ => {
                        return Err(self
                            .error("firstValue: needs a non-empty array of rules at \"values\""))
                    }
                };
                let mut found = None;
                for v in values {
                    found = self.expand(v)?;
                    if found.is_some() {
                        break;
                    }
                }
                found
            }
            Kind::Delete => {
                self.queue_delete(spec.get("outputPath"))?;
                None
            }
            Kind::Count => Some(json!(match input {
                Value::Array(a) => a.len(),
                Value::Null => 0,
                _ => 1,
            })),
            Kind::InRange => {
                let min_ok = spec
                    .get("min")
                    .is_none_or(|m| js::compare("<=", Some(m), Some(&input)));
                let max_ok = spec
                    .get("max")
                    .is_none_or(|m| js::compare(">=", Some(m), Some(&input)));
                Some(Value::Bool(min_ok && max_ok))
            }
            Kind::LimitRange => Some(limit_range(spec, input)),
            Kind::StringToNumber => {
                let n = js::to_number(Some(&input));
                (!n.is_nan()).then(|| num(n))
            }
            Kind::NumberToString => match input {
                Value::Number(n) => {
                    let n = n.as_f64().unwrap_or(f64::NAN);
                    let f = match spec.get("scale") {
                        Some(s @ Value::Number(_)) => {
                            round_to_decimal(&num(n), Some(s), spec.get("method"))
                        }
                        _ => n,
                    };
                    Some(Value::String(js::number_to_string(f)))
                }
                _ => None,
            },
            Kind::BooleanToString => Some(Value::from(if js::truthy(Some(&input)) {
                "true"
            } else {
                "false"
            })),
            Kind::StringToBoolean => Some(Value::Bool(
                js::truthy(Some(&input)) && input != json!("0") && input != json!("false"),
            )),
            Kind::BooleanToNumber => Some(json!(u8::from(js::truthy(Some(&input))))),
        })
    }

    /// `fluid.transforms.valueMapper`: looks the input up in `match` (an object keyed by the
    /// input's string form, or an array of `{inputValue, …}` records scored by closeness), falls
    /// back to `noMatch`, and writes or returns the chosen output.
    fn value_mapper(&mut self, spec: &Map<String, Value>) -> Result<Js, ModelError> {
        let matches = spec.get("match");
        if !js::truthy(matches) {
            return Err(self.error("valueMapper: needs an object or array of matches at \"match\""));
        }
        let value = self.get_value(spec.get("defaultInputPath"), spec.get("defaultInput"))?;
        let entry = match matches {
            Some(Value::Array(options)) => {
                if options.is_empty() {
                    return Err(self.error("valueMapper: \"match\" is an empty list"));
                }
                self.long_form_match(value.as_ref(), options)?
            }
            Some(Value::Object(m)) => m.get(&js::to_string(value.as_ref())).cloned(),
            _ => None,
        };
        let Some(entry) = entry.or_else(|| spec.get("noMatch").cloned()) else {
            return Ok(None);
        };
        let output_path = entry
            .get("outputPath")
            .or_else(|| spec.get("defaultOutputPath"))
            .cloned();
        let saved = self.out_prefix.clone();
        if let Some(p) = &output_path {
            let rel = self.path_str(p, "outputPath")?;
            self.out_prefix = path::join(&self.out_prefix, &rel);
        }
        let result = self.mapped_output(spec, &entry, output_path.as_ref());
        self.out_prefix = saved;
        result
    }

    fn mapped_output(
        &mut self,
        spec: &Map<String, Value>,
        entry: &Value,
        output_path: Option<&Value>,
    ) -> Result<Js, ModelError> {
        let output = if js::is_primitive(Some(entry)) {
            Some(entry.clone())
        } else if js::truthy(entry.get("outputUndefinedValue")) {
            None
        } else {
            self.get_value(entry.get("outputValuePath"), entry.get("outputValue"))?
                .or_else(|| spec.get("defaultOutputValue").cloned())
        };
        match (output, output_path) {
            (Some(v), Some(Value::String(_))) => {
                self.set_value(None, v)?;
                Ok(None)
            }
            (output, _) => Ok(output),
        }
    }

    /// The array form of `match`: the record whose `inputValue` best matches the input (its
    /// own `inputPath`, else the default input); ties go to the earlier record.
    fn long_form_match(
        &mut self,
        default_value: Option<&Value>,
        options: &[Value],
    ) -> Result<Js, ModelError> {
        let mut best: Option<(i64, usize)> = None;
        for (i, option) in options.iter().enumerate() {
            let own_path = option.get("inputPath").filter(|p| js::truthy(Some(p)));
            let value = match own_path {
                Some(p) => self.get_value(Some(p), None)?,
                None => default_value.cloned(),
            };
            let partial = js::truthy(option.get("partialMatches"));
            let score = match_value(option.get("inputValue"), value.as_ref(), partial);
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, i));
            }
        }
        Ok(best
            .filter(|(score, _)| *score > 0)
            .and_then(|(_, i)| options.get(i).cloned()))
    }

    /// `fluid.transforms.quantize`: the output of the first range whose `upperBound` the
    /// input does not exceed (bounds inclusive); a range without a bound takes everything.
    fn quantize(&mut self, spec: &Map<String, Value>, input: &Value) -> Result<Js, ModelError> {
        let ranges = match spec.get("ranges") {
            Some(Value::Array(r)) if !r.is_empty() => r,
            _ => {
                return Err(self.error("quantize: needs a non-empty array of ranges at \"ranges\""))
            }
        };
        for range in ranges {
            let bound = range.get("upperBound");
            let hit = js::compare("<=", Some(input), bound)
                || (bound.is_none() && !js::to_number(Some(input)).is_nan());
            if hit {
                let output = range.get("output");
                return if js::is_primitive(output) {
                    Ok(output.cloned())
                } else {
                    match output {
                        Some(o) => self.expand(o),
                        None => Ok(None),
                    }
                };
            }
        }
        Ok(None)
    }

    /// The `options` (required) and `presentValue` (`true` by default) of the set-membership
    /// transform `transform`.
    fn membership_options<'s>(
        &self,
        spec: &'s Map<String, Value>,
        transform: &str,
    ) -> Result<(Option<&'s Value>, Value), ModelError> {
        let options = spec.get("options");
        if !js::truthy(options) {
            return Err(self.error(format!("{transform}: needs an \"options\" object")));
        }
        let present = spec
            .get("presentValue")
            .cloned()
            .unwrap_or(Value::Bool(true));
        Ok((options, present))
    }

    fn array_to_set_membership(
        &mut self,
        spec: &Map<String, Value>,
        input: &Value,
    ) -> Result<Value, ModelError> {
        let Value::Array(items) = input else {
            return Err(self.error("arrayToSetMembership: the input is not an array"));
        };
        let (options, present) = self.membership_options(spec, "arrayToSetMembership")?;
        let missing = spec
            .get("missingValue")
            .cloned()
            .unwrap_or(Value::Bool(false));
        let mut output = Value::Object(Map::new());
        for (key, out_path) in entries(options) {
            let found = items.iter().any(|i| js::strict_equal(Some(i), Some(&key)));
            let out_path = self.path_str(out_path, "option path")?;
            let v = if found {
                present.clone()
            } else {
                missing.clone()
            };
            path::set(&mut output, &out_path, v);
        }
        Ok(output)
    }

    fn set_membership_to_array(
        &mut self,
        spec: &Map<String, Value>,
        input: &Value,
    ) -> Result<Value, ModelError> {
        let (options, present) = self.membership_options(spec, "setMembershipToArray")?;
        let mut out = Vec::new();
        for (key, out_value) in entries(options) {
            let key = js::to_string(Some(&key));
            if js::strict_equal(path::get(input, &key), Some(&present)) {
                out.push(out_value.clone());
            }
        }
        Ok(Value::Array(out))
    }

    /// Infusion's collect strategy: records the input paths a transform reads, walking its
    /// nested transforms.
    pub(super) fn collect(
        &mut self,
        kind: Kind,
        spec: &Map<String, Value>,
    ) -> Result<(), ModelError> {
        if kind.standard_input() {
            self.get_value(None, spec.get("input"))?;
            self.note_input(spec.get("inputPath"))?;
        }
        for (name, _) in input_variables(kind) {
            self.get_value(None, spec.get(*name))?;
            self.note_input(spec.get(&format!("{name}Path")))?;
        }
        match kind {
            Kind::ValueMapper => {
                self.get_value(None, spec.get("defaultInput"))?;
                self.note_input(spec.get("defaultInputPath"))?;
                let mut records: Vec<&Value> = match spec.get("match") {
                    Some(Value::Array(a)) => a.iter().collect(),
                    Some(Value::Object(m)) => m.values().collect(),
                    _ => Vec::new(),
                };
                records.extend(spec.get("noMatch"));
                for record in records {
                    if let Value::Object(r) = record {
                        self.note_input(r.get("inputPath"))?;
                        // Beyond Infusion's collector: the output may read the source too.
                        self.get_value(None, r.get("outputValue"))?;
                        self.note_input(r.get("outputValuePath"))?;
                    }
                }
            }
            Kind::Quantize => {
                if let Some(Value::Array(ranges)) = spec.get("ranges") {
                    for range in ranges {
                        if let Some(o) = range.get("output").filter(|o| !js::is_primitive(Some(o)))
                        {
                            self.expand(o)?;
                        }
                    }
                }
            }
            Kind::FirstValue => {
                // Beyond Infusion's collector, which skips the alternatives.
                if let Some(Value::Array(values)) = spec.get("values") {
                    for v in values {
                        self.expand(v)?;
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `fluid.each` over an options block: object entries, or array elements keyed by index.
fn entries(options: Option<&Value>) -> Vec<(Value, &Value)> {
    match options {
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| (Value::from(k.as_str()), v))
            .collect(),
        Some(Value::Array(a)) => a.iter().enumerate().map(|(i, v)| (json!(i), v)).collect(),
        _ => Vec::new(),
    }
}

/// `fluid.transforms.binaryLookup`.
fn binary_op(op: &str, l: &Value, r: &Value) -> Js {
    let (l, r) = (Some(l), Some(r));
    let arith = |f: fn(f64, f64) -> f64| Some(num(f(js::to_number(l), js::to_number(r))));
    match op {
        "===" => Some(Value::Bool(js::same_value(l, r))),
        "!==" => Some(Value::Bool(!js::same_value(l, r))),
        "<" | "<=" | ">" | ">=" => Some(Value::Bool(js::compare(op, l, r))),
        "+" => Some(js::add(l, r)),
        "-" => arith(|a, b| a - b),
        "*" => arith(|a, b| a * b),
        "/" => arith(|a, b| a / b),
        "%" => arith(|a, b| a % b),
        "&&" => if js::truthy(l) { r } else { l }.cloned(),
        "||" => if js::truthy(l) { l } else { r }.cloned(),
        _ => None,
    }
}

/// `fluid.roundToDecimal`, including its detour through strings (`num + "e" + scale`), so
/// that numbers already in exponential form round to NaN exactly as they do in Infusion.
fn round_to_decimal(n: &Value, scale: Option<&Value>, method: Option<&Value>) -> f64 {
    let zero = json!(0);
    let scale = if js::truthy(scale) && js::compare(">=", scale, Some(&zero)) {
        js::math_round(js::to_number(scale))
    } else {
        0.0
    };
    let scale = js::number_to_string(scale);
    match method.and_then(Value::as_str) {
        Some(m @ ("ceil" | "floor")) => {
            let x = js::string_to_number(&format!("{}e{scale}", js::to_string(Some(n))));
            let y = if m == "ceil" { x.ceil() } else { x.floor() };
            js::string_to_number(&format!("{}e-{scale}", js::number_to_string(y)))
        }
        _ => {
            let sign = if js::compare(">=", Some(n), Some(&zero)) {
                1.0
            } else {
                -1.0
            };
            let abs = js::to_number(Some(n)).abs();
            let shifted = js::string_to_number(&format!("{}e{scale}", js::number_to_string(abs)));
            let r = js::math_round(shifted);
            sign * js::string_to_number(&format!("{}e-{scale}", js::number_to_string(r)))
        }
    }
}

/// `fluid.transforms.limitRange`: clamps to `min` (+ `excludeMin`) and `max` (- `excludeMax`).
fn limit_range(spec: &Map<String, Value>, mut value: Value) -> Value {
    let zero = json!(0);
    if let Some(min) = spec.get("min") {
        let ex = spec
            .get("excludeMin")
            .filter(|e| js::truthy(Some(e)))
            .unwrap_or(&zero);
        let min = js::add(Some(min), Some(ex));
        if js::compare("<", Some(&value), Some(&min)) {
            value = min;
        }
    }
    if let Some(max) = spec.get("max") {
        let ex = spec
            .get("excludeMax")
            .filter(|e| js::truthy(Some(e)))
            .unwrap_or(&zero);
        let max = num(js::to_number(Some(max)) - js::to_number(Some(ex)));
        if js::compare(">", Some(&value), Some(&max)) {
            value = max;
        }
    }
    value
}

/// Infusion's `matchValue` score for the long form of `valueMapper`: 0 for no match; an exact
/// match scores high; with `partialMatches`, each difference costs a large step.
fn match_value(expected: Option<&Value>, actual: Option<&Value>, partial: bool) -> i64 {
    let stats = diff(expected, actual);
    if stats.unchanged == 0 {
        0
    } else if partial {
        0xffff_ff00_0000 - 0x100_0000 * stats.changes + stats.unchanged
    } else if stats.changes > 0 {
        0
    } else {
        0xffff_ff00_0000 + stats.unchanged
    }
}

/// The counters of `fluid.model.diff`, which `matchValue` reads. (Infusion's `unchanged`
/// counter is raised for primitives that differ; we count as it does.)
#[derive(Default)]
struct DiffStats {
    changes: i64,
    unchanged: i64,
    /// Paths already recorded as changed (a change below one of them is not counted again).
    changed: Vec<Vec<String>>,
}

impl DiffStats {
    fn note_change(&mut self, segs: &[String]) {
        if !self.changed.iter().any(|c| segs.starts_with(c)) {
            self.changes += 1;
            self.changed.push(segs.to_vec());
        }
    }
}

fn is_container(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Array(_) | Value::Object(_)))
}

/// `fluid.model.diff`: applies each model onto a copy of the other and counts what changed.
fn diff(a: Option<&Value>, b: Option<&Value>) -> DiffStats {
    let mut stats = DiffStats::default();
    let togo = match (is_container(a), is_container(b)) {
        (false, false) => js::same_value(a, b),
        (true, true) => {
            let mut segs = Vec::new();
            if let Some(b) = b {
                apply_strategy(a, b, &mut segs, &mut stats);
            }
            if let Some(a) = a {
                apply_strategy(b, a, &mut segs, &mut stats);
            }
            stats.changes == 0
        }
        _ => false,
    };
    if !togo && stats.changes == 0 {
        stats.changes = 1;
    } else if togo && stats.unchanged == 0 {
        stats.unchanged = 1;
    }
    stats
}

/// Counts what writing `source` over `target` would change (Infusion's
/// `applyChangeStrategy`, without the writing).
fn apply_strategy(
    target: Option<&Value>,
    source: &Value,
    segs: &mut Vec<String>,
    st: &mut DiffStats,
) {
    if !is_container(Some(source)) {
        if !js::same_value(target, Some(source)) {
            st.unchanged += 1;
            st.note_change(segs);
        }
        return;
    }
    let replaced = match (target, source) {
        (Some(Value::Object(_)), Value::Object(_)) => false,
        (Some(Value::Array(t)), Value::Array(s)) => t.len() != s.len(),
        _ => true,
    };
    if replaced {
        st.note_change(segs);
    }
    let target = if replaced { None } else { target };
    let children: Vec<(String, &Value)> = match source {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => Vec::new(),
    };
    for (k, v) in children {
        let child = target.and_then(|t| match t {
            Value::Object(m) => m.get(&k),
            Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        });
        segs.push(k);
        apply_strategy(child, v, segs, st);
        segs.pop();
    }
}
