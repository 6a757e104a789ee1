//! The quick adjustments the window offers (docs/app.md, docs/design.md §8), in their order, with
//! the keyed-in person's current values.

use std::collections::BTreeMap;

use serde::Serialize;

const COMMON: &str = "http://registry.gpii.net/common/";

/// One quick adjustment as the UI renders it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Adjustment {
    pub id: &'static str,
    pub label: &'static str,
    pub term: String,
    pub control: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<&'static str>,
    pub value: Option<serde_json::Value>,
}

struct Spec {
    id: &'static str,
    label: &'static str,
    /// The common term, after `http://registry.gpii.net/common/`.
    term: &'static str,
    /// `(min, max, step, unit)` for a range; `None` for a toggle.
    range: Option<(f64, f64, f64, &'static str)>,
}

const SPECS: &[Spec] = &[
    Spec {
        id: "fontSize",
        label: "Text size",
        term: "fontSize",
        range: Some((9.0, 36.0, 1.0, "pt")),
    },
    Spec {
        id: "highContrast",
        label: "High contrast",
        term: "highContrast/enabled",
        range: None,
    },
    Spec {
        id: "cursorSize",
        label: "Cursor size",
        term: "cursorSize",
        range: Some((0.0, 1.0, 0.1, "")),
    },
    Spec {
        id: "magnifier",
        label: "Magnifier",
        term: "magnification/enabled",
        range: None,
    },
    Spec {
        id: "screenReader",
        label: "Screen reader",
        term: "screenReaderTTS/enabled",
        range: None,
    },
    Spec {
        id: "stickyKeys",
        label: "Sticky keys",
        term: "stickyKeys",
        range: None,
    },
    Spec {
        id: "slowKeys",
        label: "Slow keys",
        term: "slowKeys/enabled",
        range: None,
    },
    Spec {
        id: "reduceMotion",
        label: "Reduce motion",
        term: "reduceMotion",
        range: None,
    },
];

/// The adjustments with the values of `prefs` (common-term URI → value; `None`: nobody keyed in).
pub fn adjustments(prefs: Option<&BTreeMap<String, serde_json::Value>>) -> Vec<Adjustment> {
    SPECS
        .iter()
        .map(|s| {
            let term = format!("{COMMON}{}", s.term);
            Adjustment {
                id: s.id,
                label: s.label,
                value: prefs.and_then(|p| p.get(&term)).cloned(),
                term,
                control: if s.range.is_some() { "range" } else { "toggle" },
                min: s.range.map(|r| r.0),
                max: s.range.map(|r| r.1),
                step: s.range.map(|r| r.2),
                unit: s.range.map(|r| r.3).filter(|u| !u.is_empty()),
            }
        })
        .collect()
}

/// The common term for what the UI sent: an adjustment `id`, or a term as it is.
pub fn term_for(id_or_term: &str) -> String {
    SPECS
        .iter()
        .find(|s| s.id == id_or_term)
        .map(|s| format!("{COMMON}{}", s.term))
        .unwrap_or_else(|| id_or_term.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_to_common_terms_and_terms_pass_through() {
        assert_eq!(
            term_for("fontSize"),
            "http://registry.gpii.net/common/fontSize"
        );
        assert_eq!(
            term_for("http://registry.gpii.net/common/stickyKeys"),
            "http://registry.gpii.net/common/stickyKeys"
        );
    }

    #[test]
    fn values_come_from_the_preferences_and_are_null_without_a_session() {
        let mut p = BTreeMap::new();
        p.insert(term_for("fontSize"), serde_json::json!(18));
        let a = adjustments(Some(&p));
        assert_eq!(a.len(), 8);
        assert_eq!(a[0].value, Some(serde_json::json!(18)));
        assert_eq!(a[1].value, None);
        assert!(adjustments(None).iter().all(|a| a.value.is_none()));
    }
}
