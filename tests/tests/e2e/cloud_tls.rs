//! The client keys in over attune-cloud's own TLS (`serve --tls-cert/--tls-key`): the site's CA,
//! made here with rcgen, is trusted through `cloud.ca_file` in the site file; without it the
//! same cloud is refused and nothing of the cloud's is applied.

use attune_e2e::{assert_says, workspace_bin};
use attune_testkit::serving::Serving;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::Value;

use crate::common::{key_out_restores, text_scale, used_desktop};

/// A site CA, and a certificate it issued for 127.0.0.1, written into `dir`: (ca.pem, cert.pem,
/// key.pem).
fn site_certificates(dir: &std::path::Path) -> [std::path::PathBuf; 3] {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::CommonName, "Library site CA");
    let ca = CertifiedIssuer::self_signed(p, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let paths = [
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    ];
    std::fs::write(&paths[0], ca.pem()).unwrap();
    std::fs::write(&paths[1], leaf.pem()).unwrap();
    std::fs::write(&paths[2], key.serialize_pem()).unwrap();
    paths
}

#[test]
fn a_key_in_over_the_clouds_own_tls_trusts_the_site_ca_from_ca_file() {
    let (d, before) = used_desktop();
    let dir = d.dir.path();
    let [ca, cert, key] = site_certificates(dir);
    let mut c = std::process::Command::new(workspace_bin("attune-cloud", "attune-cloud"));
    c.arg("serve")
        .arg("--store")
        .arg(format!("sqlite:{}", dir.join("cloud.sqlite").display()))
        .args(["--listen", "127.0.0.1:0", "--dev"])
        .arg("--tls-cert")
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env_remove("ATTUNE_CLOUD_LISTEN")
        .env_remove("ATTUNE_CLOUD_STORE")
        .env_remove("ATTUNE_CLOUD_CONFIG");
    let cloud = Serving::start(c);
    let url = cloud.url.replace("http://", "https://");

    // Without the site's CA, the cloud's certificate is refused: nothing of it is applied.
    let plain = dir.join("plain-site.toml");
    std::fs::write(&plain, "").unwrap();
    let env = |site: &std::path::Path| {
        [
            ("ATTUNE_PROFILE", "development".to_owned()),
            ("ATTUNE_CLOUD_URL", url.clone()),
            ("ATTUNE_SITE_CONFIG", site.display().to_string()),
        ]
    };
    let refused = env(&plain);
    let refused: Vec<(&str, &str)> = refused.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = d.attune_with(&["key-in", "low_vision_combined"], &refused);
    assert_says(
        &o,
        "its certificate is not from an authority this computer trusts",
    );
    d.attune_with(&["key-out"], &refused);

    // With it, the key-in is the cloud's.
    let site = dir.join("site.toml");
    std::fs::write(&site, format!("[cloud]\nca_file = \"{}\"\n", ca.display())).unwrap();
    let trusted = env(&site);
    let trusted: Vec<(&str, &str)> = trusted.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let o = d.attune_with_ok(&["key-in", "low_vision_combined", "--json"], &trusted);
    let out: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(out["source"]["kind"], "cloud", "{out}");
    assert_eq!(text_scale(&d), "1.5");
    key_out_restores(&d, &trusted, &before);
    drop(cloud);
}
