//! The wire codec of the cloud side: GPII documents read and written back are the documents
//! that were read, unknown fields and `null`s included (`store::document`), and a settings
//! answer lists its solutions in the registry's order, not the alphabet's.

use std::sync::Arc;

use attune_cloud::admin;
use attune_cloud::api::{AppState, Limits};
use attune_cloud::clock::ManualClock;
use attune_cloud::server;
use attune_cloud::store::document::{
    self, AuthorizationDocument, CredentialDocument, KeyDocument, SafeDocument,
};
use attune_cloud::store::sqlite::SqliteStore;
use attune_cloud::store::PrefsSafeType;
use attune_model::answer::solution_order;
use attune_model::key::Key;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::common::{serve_state, settings_url, token_at};

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A known field's value: absent, `null`, or one of `value`'s.
fn field(value: BoxedStrategy<Value>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![Just(None), Just(Some(Value::Null)), value.prop_map(Some)].boxed()
}

fn text() -> BoxedStrategy<Value> {
    "[ -~]{0,16}".prop_map(Value::from).boxed()
}

fn boolean() -> BoxedStrategy<Value> {
    any::<bool>().prop_map(Value::from).boxed()
}

fn strings() -> BoxedStrategy<Value> {
    prop::collection::vec("[ -~]{0,8}", 0..3)
        .prop_map(Value::from)
        .boxed()
}

/// A document of `doc_type` with `known` fields (each absent, null or typed) and unknown ones.
fn document(
    doc_type: &'static str,
    known: Vec<(&'static str, BoxedStrategy<Value>)>,
) -> BoxedStrategy<Value> {
    let names: Vec<&'static str> = known.iter().map(|(n, _)| *n).collect();
    let fields: Vec<BoxedStrategy<Option<Value>>> =
        known.into_iter().map(|(_, s)| field(s)).collect();
    (
        "[a-zA-Z0-9-]{1,20}",
        prop::option::of("[1-9]-[a-f0-9]{4}"),
        fields,
        prop::collection::btree_map("x[a-zA-Z]{0,8}", any_json(), 0..4),
    )
        .prop_map(move |(id, rev, values, unknown)| {
            let mut m: Map<String, Value> = unknown.into_iter().collect();
            m.insert("_id".into(), Value::from(id));
            m.insert("type".into(), Value::from(doc_type));
            if let Some(r) = rev {
                m.insert("_rev".into(), Value::from(r));
            }
            for (name, v) in names.iter().zip(values) {
                if let Some(v) = v {
                    m.insert((*name).to_owned(), v);
                }
            }
            Value::Object(m)
        })
        .boxed()
}

fn key_doc() -> BoxedStrategy<Value> {
    document(
        "gpiiKey",
        vec![
            ("schemaVersion", text()),
            ("prefsSafeId", text()),
            ("prefsSetId", text()),
            ("revoked", boolean()),
            ("revokedReason", text()),
            ("timestampCreated", text()),
            ("timestampUpdated", text()),
        ],
    )
}

fn safe_doc() -> BoxedStrategy<Value> {
    document(
        "prefsSafe",
        vec![
            ("schemaVersion", text()),
            (
                "prefsSafeType",
                prop_oneof![Just(json!("user")), Just(json!("snapset"))].boxed(),
            ),
            ("name", text()),
            ("preferences", any_json().boxed()),
            ("timestampCreated", text()),
            ("timestampUpdated", text()),
        ],
    )
}

fn credential_doc() -> BoxedStrategy<Value> {
    document(
        "clientCredential",
        vec![
            ("schemaVersion", text()),
            ("clientId", text()),
            ("oauth2ClientId", text()),
            ("oauth2ClientSecret", text()),
            ("oauth2ClientSecretHash", text()),
            ("allowedIPBlocks", strings()),
            ("allowedPrefsToWrite", strings()),
            ("isCreateGpiiKeyAllowed", boolean()),
            ("isCreatePrefsSafeAllowed", boolean()),
            ("revoked", boolean()),
            ("timestampCreated", text()),
        ],
    )
}

fn authorization_doc() -> BoxedStrategy<Value> {
    document(
        "gpiiAppInstallationAuthorization",
        vec![
            ("schemaVersion", text()),
            ("clientId", text()),
            ("clientCredentialId", text()),
            ("gpiiKey", text()),
            ("accessToken", text()),
            ("accessTokenHash", text()),
            ("revoked", boolean()),
            ("revokedReason", text()),
            ("timestampCreated", text()),
            ("timestampRevoked", text()),
            ("timestampExpires", text()),
        ],
    )
}

/// The fields of `doc` that are not `known`.
fn unknown(doc: &Value, known: &[&str]) -> Map<String, Value> {
    doc.as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn documents_read_and_written_back_are_what_was_read(
        key in key_doc(),
        safe in safe_doc(),
        credential in credential_doc(),
        authorization in authorization_doc(),
    ) {
        let k: KeyDocument = document::read(&key).unwrap();
        prop_assert_eq!(document::write(&k), key);
        let s: SafeDocument = document::read(&safe).unwrap();
        prop_assert_eq!(document::write(&s), safe);
        let c: CredentialDocument = document::read(&credential).unwrap();
        prop_assert_eq!(document::write(&c), credential);
        let a: AuthorizationDocument = document::read(&authorization).unwrap();
        prop_assert_eq!(document::write(&a), authorization);
    }

    #[test]
    fn attune_writing_over_a_document_keeps_what_it_does_not_know(
        key in key_doc(),
        safe in safe_doc(),
    ) {
        let k: KeyDocument = document::read(&key).unwrap();
        let written = document::write(&KeyDocument::from_store(&k.to_store(), Some(k.clone())));
        let known = ["_id", "_rev", "type", "schemaVersion", "prefsSafeId", "prefsSetId",
            "revoked", "revokedReason", "timestampCreated", "timestampUpdated"];
        prop_assert_eq!(unknown(&written, &known), unknown(&key, &known));
        prop_assert_eq!(&written["_rev"], &key["_rev"]);
        let back: KeyDocument = document::read(&written).unwrap();
        prop_assert_eq!(back.to_store(), k.to_store());

        let s: SafeDocument = document::read(&safe).unwrap();
        let stored = s.to_store().unwrap();
        let written = document::write(&SafeDocument::from_store(&stored, Some(s)));
        let known = ["_id", "_rev", "type", "schemaVersion", "prefsSafeType", "name",
            "preferences", "timestampCreated", "timestampUpdated"];
        prop_assert_eq!(unknown(&written, &known), unknown(&safe, &known));
        let back: SafeDocument = document::read(&written).unwrap();
        prop_assert_eq!(back.to_store().unwrap(), stored);
    }
}

#[test]
fn gpiis_own_documents_round_trip_unchanged() {
    let mut read = 0;
    for file in [
        "dbData/clientCredentials.json",
        "dbData-snapset/gpiiKeys.json",
        "dbData-snapset/prefsSafes.json",
    ] {
        let text = std::fs::read_to_string(crate::common::fixtures().join(file)).unwrap();
        let docs: Vec<Value> = serde_json::from_str(&text).unwrap();
        for doc in docs {
            let written = match document::type_of(&doc) {
                Some("gpiiKey") => document::write(&document::read::<KeyDocument>(&doc).unwrap()),
                Some("prefsSafe") => {
                    document::write(&document::read::<SafeDocument>(&doc).unwrap())
                }
                Some("clientCredential") => {
                    document::write(&document::read::<CredentialDocument>(&doc).unwrap())
                }
                _ => continue,
            };
            assert_eq!(written, doc, "{file}");
            read += 1;
        }
    }
    assert!(read >= 3, "only {read} documents read");
}

#[test]
fn a_document_of_another_type_or_with_a_mistyped_field_is_refused_by_name() {
    let e = document::read::<SafeDocument>(&json!({"_id": "s", "type": "gpiiKey"})).unwrap_err();
    assert!(e.contains("prefsSafe"), "{e}");
    let e = document::read::<CredentialDocument>(
        &json!({"_id": "c", "type": "clientCredential", "allowedIPBlocks": "10.0.0.0/8"}),
    )
    .unwrap_err();
    assert!(e.contains("sequence"), "{e}");
}

/// Where `"<id>":{` (an object under that key) first appears in `text` after `from`.
fn position(text: &str, from: &str, id: &str) -> Option<usize> {
    let start = text.find(from)?;
    text[start..]
        .find(&format!("\"{id}\":{{"))
        .map(|p| start + p)
}

#[tokio::test]
async fn an_answer_lists_solutions_in_the_registrys_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("cloud.db")).unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    admin::load_dev_data(&store, clock.as_ref()).await.unwrap();
    // Large text, high contrast and magnification: the interface, its high-contrast schema and
    // the magnifier are all chosen.
    let key = Key::parse("ordered-person").unwrap();
    let prefs = json!({"flat": {"contexts": {"gpii-default": {"name": "Default", "preferences": {
        "http://registry.gpii.net/common/fontSize": 24,
        "http://registry.gpii.net/common/highContrast/enabled": true,
        "http://registry.gpii.net/common/magnification/enabled": true,
        "http://registry.gpii.net/common/magnification": 2
    }}}}});
    admin::load_preferences(&store, &key, prefs, PrefsSafeType::User, clock.as_ref())
        .await
        .unwrap();
    let state = AppState::new(
        Arc::new(store),
        clock,
        server::bundled_registries().unwrap(),
        Limits::default(),
    );
    let base = serve_state(state).await;

    let registry_order = solution_order(
        attune_model::bundled::linux_registry_text().unwrap(),
        "linux.json5",
    )
    .unwrap();
    let device = json!({"OS": {"id": "linux"},
        "solutions": registry_order.iter().map(|id| json!({"id": id})).collect::<Vec<_>>()});
    let http = reqwest::Client::new();
    let token = token_at(
        &http,
        &base,
        admin::DEV_CLIENT_ID,
        admin::DEV_CLIENT_SECRET,
        key.expose(),
    )
    .await;
    let r = http
        .get(settings_url(&base, key.expose(), &device.to_string()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let answer: Value = serde_json::from_str(&text).unwrap();
    let apps = answer["matchMakerOutput"]["inferredConfiguration"]["gpii-default"]["applications"]
        .as_object()
        .unwrap();
    assert!(apps.len() >= 3, "{apps:?}");

    for (part, ids) in [
        (
            "\"solutionsRegistryEntries\"",
            answer["solutionsRegistryEntries"].as_object().unwrap(),
        ),
        ("\"applications\"", apps),
    ] {
        let expected: Vec<&String> = registry_order
            .iter()
            .filter(|id| ids.contains_key(*id))
            .collect();
        let mut sent: Vec<(usize, &String)> = expected
            .iter()
            .map(|id| (position(&text, part, id).unwrap(), *id))
            .collect();
        sent.sort();
        let sent: Vec<&String> = sent.into_iter().map(|(_, id)| id).collect();
        assert_eq!(sent, expected, "{part}");
        let mut alphabetical = expected.clone();
        alphabetical.sort();
        assert_ne!(
            expected, alphabetical,
            "{part}: the test needs an order the alphabet would change"
        );
    }
}
