//! The data compiled into the crate: at least ten snapsets that all parse, and a Linux registry
//! whose transformations all read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use attune_model::bundled;

#[test]
fn at_least_ten_snapsets_are_bundled_and_all_parse() {
    let keys = bundled::snapset_keys();
    assert!(
        keys.len() >= 10,
        "only {} snapsets bundled: {keys:?}",
        keys.len()
    );
    for s in bundled::snapsets() {
        let set = bundled::snapset(s.key).unwrap();
        assert!(set.is_ok(), "{}: {}", s.file_name, set.unwrap_err());
        assert!(
            s.file_name.starts_with(s.key),
            "key {} from file {}",
            s.key,
            s.file_name
        );
    }
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, keys, "keys sorted and unique");
}

#[test]
fn gpii_pilot_key_snapset_1a_is_kept() {
    // Cards printed for GPII pilots carry this key (issue "Foundation A").
    assert!(
        bundled::snapset("snapset_1a").is_some(),
        "{:?}",
        bundled::snapset_keys()
    );
}

#[test]
fn an_unknown_snapset_is_none() {
    assert!(bundled::snapset("no-such-snapset").is_none());
}

#[test]
fn the_bundled_linux_registry_parses_and_its_transforms_read() {
    let reg = bundled::linux_registry().unwrap();
    for id in [
        "org.gnome.desktop.interface",
        "org.gnome.desktop.a11y.magnifier",
        "org.gnome.orca",
    ] {
        assert!(
            reg.get(id).is_some(),
            "{id} missing from {:?}",
            reg.solutions.keys()
        );
    }
}
