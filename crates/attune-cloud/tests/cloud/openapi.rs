//! docs/api/openapi.yaml documents every route the router has, with the same methods, and
//! nothing the router lacks.

use std::collections::BTreeSet;

fn documented() -> BTreeSet<(String, String)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("docs/api/openapi.yaml");
    let mut out = BTreeSet::new();
    let mut in_paths = false;
    let mut current: Option<String> = None;
    for line in text.lines() {
        if !line.starts_with(' ') && !line.is_empty() {
            in_paths = line == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /") {
            current = Some(format!("/{}", p.trim_end_matches(':')));
        } else if let (Some(p), Some(m)) = (&current, line.strip_prefix("    ")) {
            if let Some(method) = m.strip_suffix(':') {
                if ["get", "put", "post", "delete", "patch"].contains(&method) {
                    out.insert((method.to_uppercase(), p.clone()));
                }
            }
        }
    }
    out
}

#[test]
fn every_route_is_documented_and_every_documented_route_exists() {
    let routes: BTreeSet<(String, String)> = attune_cloud::api::route_list()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p.to_owned()))
        .collect();
    let docs = documented();
    assert!(docs.len() >= 6, "the parser found too little: {docs:?}");
    let missing: Vec<_> = routes.difference(&docs).collect();
    let extra: Vec<_> = docs.difference(&routes).collect();
    assert!(
        missing.is_empty(),
        "routes not in openapi.yaml: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "openapi.yaml documents routes the server lacks: {extra:?}"
    );
}
