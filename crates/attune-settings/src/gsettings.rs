//! GSettings through GIO (`gpii.gsettings`, and the boolean keys of `gpii.gsettings.launch`).
//!
//! A setting name is a key of the handler's schema. "Absent" means the user has no value of their
//! own for the key (`g_settings_get_user_value` is NULL); it reads as the schema default, but is
//! not the same as being set to the default, and a restore of "absent" resets the key. A schema
//! or key that is not installed here is "not supported on this machine", never a crash: GIO
//! aborts the process on an unknown schema, so every lookup is checked first.

use std::collections::BTreeMap;

use gio::prelude::*;
use glib::{Variant, VariantTy, VariantType};
use serde_json::{Number, Value};

use crate::handler::{all_failed, BatchResult, MaybeValue, SettingError, SettingsHandler};

/// One GSettings schema (at its default path, or at `options.path` for relocatable schemas).
pub struct GSettingsHandler {
    schema_id: String,
    state: Result<(gio::SettingsSchema, gio::Settings), SettingError>,
}

impl GSettingsHandler {
    /// From registry options `{"schema": "org.gnome.desktop.interface", "path"?: "/org/…/"}`.
    pub fn from_options(options: &Value) -> GSettingsHandler {
        let Some(schema_id) = options.get("schema").and_then(Value::as_str) else {
            return GSettingsHandler {
                schema_id: String::new(),
                state: Err(SettingError::BadOptions {
                    detail: format!("expected a string `schema`, found options {options}"),
                }),
            };
        };
        let path = options.get("path").and_then(Value::as_str);
        GSettingsHandler::open(schema_id, path)
    }

    /// The schema `schema_id`, if it is installed.
    pub fn open(schema_id: &str, path: Option<&str>) -> GSettingsHandler {
        GSettingsHandler {
            schema_id: schema_id.to_owned(),
            state: load(schema_id, path),
        }
    }

    /// Whether the schema is installed and usable here (for the device reporter).
    pub fn schema_exists(schema_id: &str) -> bool {
        lookup(schema_id).is_some()
    }

    fn key(&self, name: &str) -> Result<(&gio::Settings, gio::SettingsSchemaKey), SettingError> {
        let (schema, settings) = self.state.as_ref().map_err(Clone::clone)?;
        if !schema.has_key(name) {
            return Err(SettingError::NotSupported {
                reason: format!(
                    "GSettings schema {} has no key `{name}` on this machine",
                    self.schema_id
                ),
            });
        }
        Ok((settings, schema.key(name)))
    }

    fn get_one(&self, name: &str) -> Result<MaybeValue, SettingError> {
        let (settings, _) = self.key(name)?;
        Ok(settings.user_value(name).map(|v| variant_to_json(&v)))
    }

    fn set_one(&self, name: &str, value: &MaybeValue) -> Result<MaybeValue, SettingError> {
        let (settings, key) = self.key(name)?;
        let old = settings.user_value(name).map(|v| variant_to_json(&v));
        if !settings.is_writable(name) {
            return Err(SettingError::Rejected {
                value: value.as_ref().map(Value::to_string).unwrap_or_default(),
                expected: format!(
                    "a writable key, but {}/{name} is locked down",
                    self.schema_id
                ),
            });
        }
        match value {
            None => settings.reset(name),
            Some(v) => {
                let ty = key.value_type();
                let variant = json_to_variant(v, &ty).ok_or_else(|| SettingError::Rejected {
                    value: v.to_string(),
                    expected: describe_type(&ty),
                })?;
                if !key.range_check(&variant) {
                    return Err(SettingError::Rejected {
                        value: v.to_string(),
                        expected: describe_range(&key),
                    });
                }
                settings
                    .set_value(name, &variant)
                    .map_err(|e| SettingError::Rejected {
                        value: v.to_string(),
                        expected: format!("a value {}/{name} accepts ({e})", self.schema_id),
                    })?;
            }
        }
        Ok(old)
    }
}

impl SettingsHandler for GSettingsHandler {
    fn target(&self) -> String {
        format!("gsettings:{}", self.schema_id)
    }

    fn get(&self, names: &[String]) -> BatchResult {
        if let Err(e) = &self.state {
            return all_failed(names, e);
        }
        names.iter().map(|n| (n.clone(), self.get_one(n))).collect()
    }

    fn set(&self, values: &BTreeMap<String, MaybeValue>) -> BatchResult {
        if let Err(e) = &self.state {
            return all_failed(values.keys(), e);
        }
        let out: BatchResult = values
            .iter()
            .map(|(n, v)| (n.clone(), self.set_one(n, v)))
            .collect();
        // The keyfile (and dconf) backends write asynchronously; a restore that is not flushed
        // before the process ends is lost.
        gio::Settings::sync();
        out
    }
}

fn lookup(schema_id: &str) -> Option<gio::SettingsSchema> {
    gio::SettingsSchemaSource::default()?.lookup(schema_id, true)
}

fn load(
    schema_id: &str,
    path: Option<&str>,
) -> Result<(gio::SettingsSchema, gio::Settings), SettingError> {
    let schema = lookup(schema_id).ok_or_else(|| SettingError::NotSupported {
        reason: format!("GSettings schema {schema_id} is not installed on this machine"),
    })?;
    if schema.path().is_none() && path.is_none() {
        return Err(SettingError::BadOptions {
            detail: format!("schema {schema_id} is relocatable and the registry gives no `path`"),
        });
    }
    if let Some(p) = path {
        if !(p.starts_with('/') && p.ends_with('/') && !p.contains("//")) {
            return Err(SettingError::BadOptions {
                detail: format!("`path` must start and end with `/`, found {p:?}"),
            });
        }
    }
    let backend = fresh_keyfile_backend();
    let settings = gio::Settings::new_full(&schema, backend.as_ref(), path);
    Ok((schema, settings))
}

/// With the keyfile backend (`GSETTINGS_BACKEND=keyfile`: headless computers and the tests), a
/// backend of this handler's own that reads the file now, or `None` to use the process's default
/// backend (dconf, memory).
///
/// GLib's keyfile backend keeps the whole file in memory and rewrites all of it on every write;
/// it reloads the file only when its file monitor's event is dispatched by a main loop, which the
/// CLI never runs and the app runs on another thread. A process holding an older copy therefore
/// puts back, on its next write, every key another process wrote since (a lost update: the app and
/// the CLI keying in one after the other lost the cursor size this way). A fresh backend per
/// handler, and Attune opens handlers per write and per read-back, keeps Attune's copy no older
/// than the write it makes. (dconf has no such race: its writes go through one service.)
fn fresh_keyfile_backend() -> Option<gio::SettingsBackend> {
    let default = gio::SettingsBackend::default();
    if default.type_().name() != "GKeyfileSettingsBackend" {
        return None;
    }
    // The file GLib's default keyfile backend uses, with the same root.
    let file = glib::user_config_dir()
        .join("glib-2.0")
        .join("settings")
        .join("keyfile");
    Some(gio::keyfile_settings_backend_new(file.to_str()?, "/", None))
}

/// A GVariant as JSON: booleans, numbers, strings and arrays/tuples of them map directly; any
/// other type (dictionaries, variants, maybes) is carried as its GVariant text, which
/// [`json_to_variant`] parses back, so no value is lost on the way through the journal.
pub fn variant_to_json(v: &Variant) -> Value {
    let ty = v.type_();
    let s = ty.as_str();
    let num = |n: Option<Number>| n.map(Value::Number);
    let simple = match s {
        "b" => v.get::<bool>().map(Value::Bool),
        "y" => v.get::<u8>().map(Value::from),
        "n" => v.get::<i16>().map(Value::from),
        "q" => v.get::<u16>().map(Value::from),
        "i" => v.get::<i32>().map(Value::from),
        "u" => v.get::<u32>().map(Value::from),
        "x" => v.get::<i64>().map(Value::from),
        "t" => v.get::<u64>().map(Value::from),
        "d" => num(v.get::<f64>().and_then(Number::from_f64)),
        "s" | "o" | "g" => v.str().map(|x| Value::String(x.to_owned())),
        _ => None,
    };
    if let Some(j) = simple {
        return j;
    }
    if (ty.is_array() && mappable(ty.element())) || (ty.is_tuple() && mappable(ty)) {
        return Value::Array(v.iter().map(|c| variant_to_json(&c)).collect());
    }
    Value::String(v.print(false).to_string())
}

/// Whether values of this type map to JSON and back without the text fallback.
fn mappable(ty: &VariantTy) -> bool {
    match ty.as_str() {
        "b" | "y" | "n" | "q" | "i" | "u" | "x" | "t" | "d" | "s" | "o" | "g" => true,
        _ if ty.is_array() => mappable(ty.element()),
        _ if ty.is_tuple() => {
            let mut cur = ty.first();
            while let Some(t) = cur {
                if !mappable(t) {
                    return false;
                }
                cur = t.next();
            }
            true
        }
        _ => false,
    }
}

/// A JSON number as a GVariant of the integer type `T`, if it is whole and within `T`'s bounds.
fn whole_variant<T: TryFrom<i128> + glib::ToVariant>(v: &Value) -> Option<Variant> {
    let whole = if let Some(i) = v.as_i64() {
        i128::from(i)
    } else if let Some(u) = v.as_u64() {
        i128::from(u)
    } else {
        let f = v.as_f64()?;
        // Whole floats within ±2^63 only; the cast is exact for them.
        (f.fract() == 0.0 && f.abs() < 9.2e18).then_some(f as i128)?
    };
    T::try_from(whole).ok().map(|n| n.to_variant())
}

/// JSON as a GVariant of type `ty`, or `None` if the value does not fit the type. Integers must
/// be whole and within the type's bounds (`24.0` is accepted for an `i`, `24.5` is not). A
/// string for a non-string type is parsed as GVariant text.
pub fn json_to_variant(v: &Value, ty: &VariantTy) -> Option<Variant> {
    use glib::ToVariant;
    match ty.as_str() {
        "b" => v.as_bool().map(|b| b.to_variant()),
        "y" => whole_variant::<u8>(v),
        "n" => whole_variant::<i16>(v),
        "q" => whole_variant::<u16>(v),
        "i" => whole_variant::<i32>(v),
        "u" => whole_variant::<u32>(v),
        "x" => whole_variant::<i64>(v),
        "t" => whole_variant::<u64>(v),
        "d" => v.as_f64().map(|f| f.to_variant()),
        "s" => v.as_str().map(|s| s.to_variant()),
        "o" | "g" => {
            // Object paths and signatures have no quotes or backslashes when valid.
            let s = v.as_str().filter(|s| !s.contains(['\'', '\\']))?;
            let word = if ty.as_str() == "o" {
                "objectpath"
            } else {
                "signature"
            };
            Variant::parse(Some(ty), &format!("{word} '{s}'")).ok()
        }
        _ => match v {
            Value::String(text) => Variant::parse(Some(ty), text).ok(),
            Value::Array(items) if ty.is_array() => {
                let elem = ty.element();
                let children: Option<Vec<Variant>> =
                    items.iter().map(|i| json_to_variant(i, elem)).collect();
                Some(Variant::array_from_iter_with_type(elem, children?))
            }
            Value::Array(items) if ty.is_tuple() => {
                let mut types = Vec::new();
                let mut cur = ty.first();
                while let Some(t) = cur {
                    types.push(t);
                    cur = t.next();
                }
                if types.len() != items.len() {
                    return None;
                }
                let children: Option<Vec<Variant>> = items
                    .iter()
                    .zip(types)
                    .map(|(i, t)| json_to_variant(i, t))
                    .collect();
                Some(Variant::tuple_from_iter(children?))
            }
            _ => None,
        },
    }
}

fn describe_type(ty: &VariantType) -> String {
    let what = match ty.as_str() {
        "b" => "a boolean",
        "y" => "a whole number from 0 to 255",
        "n" => "a 16-bit whole number",
        "q" => "an unsigned 16-bit whole number",
        "i" => "a 32-bit whole number",
        "u" => "an unsigned 32-bit whole number",
        "x" => "a 64-bit whole number",
        "t" => "an unsigned 64-bit whole number",
        "d" => "a number",
        "s" => "a string",
        "as" => "an array of strings",
        _ => "",
    };
    if what.is_empty() {
        format!("a value of GVariant type `{}`", ty.as_str())
    } else {
        format!("{what} (GVariant type `{}`)", ty.as_str())
    }
}

/// The schema's own constraint, from `g_settings_schema_key_get_range` (`(sv)`: "enum" with the
/// choices, "range" with the bounds, "flags", or "type").
fn describe_range(key: &gio::SettingsSchemaKey) -> String {
    let range = key.range();
    let kind = range
        .try_child_value(0)
        .and_then(|k| k.str().map(str::to_owned))
        .unwrap_or_default();
    let data = range
        .try_child_value(1)
        .and_then(|d| d.as_variant())
        .map(|d| d.print(false).to_string())
        .unwrap_or_default();
    match kind.as_str() {
        "enum" => format!("one of {data}"),
        "flags" => format!("a list drawn from {data}"),
        "range" => format!("a value in the range {data} (inclusive)"),
        _ => describe_type(&key.value_type()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ty(s: &str) -> VariantType {
        VariantType::new(s).unwrap()
    }

    #[test]
    fn json_round_trips_through_variants() {
        for (t, v) in [
            ("b", json!(true)),
            ("i", json!(-3)),
            ("u", json!(7)),
            ("d", json!(1.25)),
            ("s", json!("hi")),
            ("as", json!(["a", "b"])),
            ("(ii)", json!([1, 2])),
            ("a{sv}", json!("{'a': <1>}")),
        ] {
            let var = json_to_variant(&v, &ty(t)).unwrap();
            assert_eq!(variant_to_json(&var), v, "type {t}");
        }
    }

    #[test]
    fn wrong_types_and_bounds_are_refused() {
        assert!(json_to_variant(&json!("yes"), &ty("b")).is_none());
        assert!(json_to_variant(&json!(2.5), &ty("i")).is_none());
        assert!(json_to_variant(&json!(-1), &ty("u")).is_none());
        assert!(json_to_variant(&json!(300), &ty("y")).is_none());
        assert!(json_to_variant(&json!([1]), &ty("as")).is_none());
        assert_eq!(
            variant_to_json(&json_to_variant(&json!(24.0), &ty("i")).unwrap()),
            json!(24)
        );
    }

    #[test]
    fn doubles_keep_their_exact_value() {
        let x = 0.1 + 0.2;
        let var = json_to_variant(&json!(x), &ty("d")).unwrap();
        assert_eq!(variant_to_json(&var).as_f64(), Some(x));
    }
}
