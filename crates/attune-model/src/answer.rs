//! GPII's answer to `GET /{key}/settings/{device}`, as one type for the cloud that writes it and
//! the client that reads it.
//!
//! `{"gpiiKey", "preferences", "solutionsRegistryEntries", "matchMakerOutput"}`, plus whatever
//! else a cloud sends (kept in `rest`, so an answer read and written back, e.g. into the
//! preference cache, is the answer that arrived). The four parts stay JSON values on purpose:
//! the client's trust boundary, [`crate::matchmaker::instructions_from_cloud_answer`], judges
//! their shapes and names what is wrong in a hostile answer; a stricter type here would turn
//! those reports into bare parse errors.
//!
//! **Order.** GPII's own local flow manager applies the solutions of an answer in the order the
//! answer lists them, and a registry lists its solutions in a deliberate order (the desktop's
//! interface before its accessibility features). A JSON value here keeps its object keys sorted,
//! so [`SettingsAnswer::solution_order`] carries the registry's order, and the answer is written
//! with `solutionsRegistryEntries` and every context's `applications` in that order
//! ([`solution_order`] reads it from the registry's text). This keeps the order in the one place
//! it matters, instead of switching every map of every crate to insertion order (serde_json's
//! `preserve_order` feature, which Cargo would turn on workspace-wide and which would reorder
//! golden files, cached answers and `status --json` alike).

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ModelError;

/// Deserializes a present field, so that `null` (`Some(Value::Null)`) and absent (`None`) stay
/// apart.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// GPII's settings answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SettingsAnswer {
    /// The key the answer is for.
    #[serde(rename = "gpiiKey", default, deserialize_with = "present")]
    pub gpii_key: Option<Value>,
    /// The preference set's inner form, filtered to the terms a chosen solution uses.
    #[serde(default, deserialize_with = "present")]
    pub preferences: Option<Value>,
    /// Registry entries of the device's solutions (never interpreted by a client).
    #[serde(
        rename = "solutionsRegistryEntries",
        default,
        deserialize_with = "present"
    )]
    pub solutions_registry_entries: Option<Value>,
    /// `{"inferredConfiguration": {<context>: {"applications": {<id>: …}}}}`.
    #[serde(rename = "matchMakerOutput", default, deserialize_with = "present")]
    pub match_maker_output: Option<Value>,
    /// Whatever else the answer holds.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
    /// The order solutions are written in (not itself on the wire); ids it does not list come
    /// after, sorted.
    #[serde(skip)]
    pub solution_order: Vec<String>,
}

/// Why bytes are not a settings answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnswerError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("the settings answer is not a JSON object")]
    NotAnObject,
}

impl SettingsAnswer {
    /// Reads an answer: any JSON object (its parts are judged later, see the module).
    pub fn from_slice(body: &[u8]) -> Result<SettingsAnswer, AnswerError> {
        let v: Value = serde_json::from_slice(body)?;
        Self::from_value(v)
    }

    /// Reads an answer already parsed as JSON.
    pub fn from_value(v: Value) -> Result<SettingsAnswer, AnswerError> {
        if !v.is_object() {
            return Err(AnswerError::NotAnObject);
        }
        Ok(serde_json::from_value(v)?)
    }

    /// The answer as a JSON value (object keys sorted: the order is in the bytes only).
    pub fn into_value(self) -> Value {
        let mut m = self.rest;
        let parts = [
            ("gpiiKey", self.gpii_key),
            ("preferences", self.preferences),
            ("solutionsRegistryEntries", self.solutions_registry_entries),
            ("matchMakerOutput", self.match_maker_output),
        ];
        for (name, part) in parts {
            if let Some(v) = part {
                m.insert(name.to_owned(), v);
            }
        }
        Value::Object(m)
    }

    /// The answer as JSON bytes, solutions in [`SettingsAnswer::solution_order`].
    pub fn to_vec(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

impl Serialize for SettingsAnswer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let order = self.solution_order.as_slice();
        let mut m = s.serialize_map(None)?;
        // Each part, and where in it solutions are written in `order`.
        let parts = [
            ("gpiiKey", &self.gpii_key, None),
            ("preferences", &self.preferences, None),
            (
                "solutionsRegistryEntries",
                &self.solutions_registry_entries,
                Some(REGISTRY_ENTRIES),
            ),
            (
                "matchMakerOutput",
                &self.match_maker_output,
                Some(APPLICATIONS),
            ),
        ];
        for (name, part, ordered_at) in parts {
            let Some(value) = part else { continue };
            match ordered_at {
                Some(path) => m.serialize_entry(name, &OrderedAt { value, path, order })?,
                None => m.serialize_entry(name, value)?,
            }
        }
        for (k, v) in &self.rest {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// The keys of `map`: those in `order` first, in that order, then the others (sorted).
fn ordered_keys<'a>(map: &'a Map<String, Value>, order: &'a [String]) -> Vec<&'a String> {
    let mut keys: Vec<&String> = order.iter().filter(|k| map.contains_key(*k)).collect();
    keys.extend(map.keys().filter(|k| !order.contains(k)));
    keys
}

/// Where the solution order applies: `solutionsRegistryEntries` itself, and each context's
/// `applications` in `matchMakerOutput` (`*` is any key).
const REGISTRY_ENTRIES: &[&str] = &[];
const APPLICATIONS: &[&str] = &["inferredConfiguration", "*", "applications"];

/// `value`, with the keys of the objects at `path` written in `order` (see
/// [`ordered_keys`]); everything else as it is.
struct OrderedAt<'a> {
    value: &'a Value,
    path: &'a [&'a str],
    order: &'a [String],
}

impl Serialize for OrderedAt<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Value::Object(map) = self.value else {
            return self.value.serialize(s);
        };
        let mut m = s.serialize_map(Some(map.len()))?;
        match self.path.split_first() {
            None => {
                for k in ordered_keys(map, self.order) {
                    m.serialize_entry(k, &map[k])?;
                }
            }
            Some((step, rest)) => {
                for (k, v) in map {
                    if *step == "*" || step == k {
                        let inner = OrderedAt {
                            value: v,
                            path: rest,
                            order: self.order,
                        };
                        m.serialize_entry(k, &inner)?;
                    } else {
                        m.serialize_entry(k, v)?;
                    }
                }
            }
        }
        m.end()
    }
}

/// The solution ids of a registry's text (JSON5, as [`crate::registry::SolutionsRegistry`]
/// reads it), in the order the text lists them. `what` names the text in errors.
pub fn solution_order(text: &str, what: &str) -> Result<Vec<String>, ModelError> {
    crate::validate::check_nesting(text, what, "JSON5")?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    json5::from_str::<KeyOrder>(text)
        .map(|k| k.0)
        .map_err(|e| ModelError::Syntax {
            what: what.to_owned(),
            format: "JSON5",
            detail: e.to_string(),
        })
}

/// The keys of a JSON object in document order (values skipped).
struct KeyOrder(Vec<String>);

impl<'de> Deserialize<'de> for KeyOrder {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = KeyOrder;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of solution id → entry")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<KeyOrder, A::Error> {
                let mut keys = Vec::new();
                while let Some((k, IgnoredAny)) = a.next_entry::<String, IgnoredAny>()? {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                Ok(KeyOrder(keys))
            }
        }
        d.deserialize_map(Keys).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    /// Where each of `ids` first appears in `text` after `from`.
    fn positions(text: &str, from: &str, ids: &[&str]) -> Vec<usize> {
        let start = text.find(from).unwrap();
        ids.iter()
            .map(|id| start + text[start..].find(&format!("\"{id}\"")).unwrap())
            .collect()
    }

    #[test]
    fn solutions_are_written_in_the_registry_order_everywhere() {
        let apps = json!({"b.sol": {"active": true}, "a.sol": {"active": true},
            "c.sol": {"active": true}});
        let answer = SettingsAnswer {
            gpii_key: Some(json!("k")),
            preferences: Some(json!({})),
            solutions_registry_entries: Some(json!({"a.sol": {}, "b.sol": {}, "c.sol": {}})),
            match_maker_output: Some(json!({"inferredConfiguration": {
                "gpii-default": {"applications": apps}}})),
            rest: Map::new(),
            solution_order: vec!["c.sol".into(), "a.sol".into(), "b.sol".into()],
        };
        let bytes = answer.to_vec().unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        let ids = ["c.sol", "a.sol", "b.sol"];
        for part in ["\"solutionsRegistryEntries\"", "\"applications\""] {
            let at = positions(text, part, &ids);
            assert!(at.windows(2).all(|w| w[0] < w[1]), "{part} in {text}");
        }
        // Read back, it is the same answer (the order aside, which is not in a value).
        let back = SettingsAnswer::from_slice(&bytes).unwrap();
        assert_eq!(
            back,
            SettingsAnswer {
                solution_order: Vec::new(),
                ..answer
            }
        );
    }

    #[test]
    fn the_registry_order_comes_from_the_text_not_the_alphabet() {
        let text = "{ 'z.last': {a: 1}, \"a.first\": {}, m: [1, {x: 2}] }";
        assert_eq!(
            solution_order(text, "t").unwrap(),
            ["z.last", "a.first", "m"]
        );
        assert!(solution_order("[1]", "t").is_err());
    }

    #[test]
    fn any_object_is_an_answer_and_survives_a_round_trip() {
        for text in [
            r#"{}"#,
            r#"{"gpiiKey":null,"preferences":1,"other":{"x":[1,2.5]}}"#,
            r#"{"matchMakerOutput":{"inferredConfiguration":{"c":{"applications":3}}}}"#,
            r#"{"solutionsRegistryEntries":[1],"matchMakerOutput":"x"}"#,
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            let a = SettingsAnswer::from_slice(text.as_bytes()).unwrap();
            assert_eq!(a.clone().into_value(), v, "{text}");
            let written: Value = serde_json::from_slice(&a.to_vec().unwrap()).unwrap();
            assert_eq!(written, v, "{text}");
        }
        assert!(matches!(
            SettingsAnswer::from_slice(b"[1,2]"),
            Err(AnswerError::NotAnObject)
        ));
        assert!(matches!(
            SettingsAnswer::from_slice(b"{"),
            Err(AnswerError::Json(_))
        ));
    }
}
