//! Key-out revokes the session's token (audit, issue 12 item 20), against the real
//! `attune-cloud`: the token the session held is refused (401) right after key-out, instead of
//! staying good for the rest of its hour.

use attune_e2e::http_get;
use attune_testkit::FaultProxy;

use crate::common::{cloud_env, key_out_restores, used_desktop};
use crate::real_cloud::start_cloud_behind_proxy;
use crate::reconnect::KEY;

/// The last `access_token` the server handed out through `proxy` (read off the token answer, as
/// nothing else on this desktop may show it).
fn last_token(proxy: &FaultProxy) -> String {
    let text = String::from_utf8_lossy(&proxy.received()).into_owned();
    let at = text
        .rfind("\"access_token\":\"")
        .expect("a token answer went through");
    let rest = &text[at + "\"access_token\":\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

/// Status of `GET /{key}/settings/{device}` with this bearer token, sent straight to the cloud.
fn get_settings_status(cloud_url: &str, token: &str) -> u16 {
    let device = "%7B%22OS%22%3A%7B%22id%22%3A%22linux%22%7D%2C%22solutions%22%3A%5B%5D%7D";
    let bearer = format!("Bearer {token}");
    let (status, _) = http_get(
        cloud_url.trim_start_matches("http://"),
        &format!("/{KEY}/settings/{device}"),
        &[("Authorization", &bearer), ("Accept", "application/json")],
    );
    status
}

#[test]
fn after_key_out_the_sessions_token_is_refused_by_the_real_cloud() {
    let (d, before) = used_desktop();
    let (cloud, recorder) = start_cloud_behind_proxy(d.dir.path());
    let url = recorder.url();
    let env = cloud_env(&url);
    d.attune_with_ok(&["key-in", KEY, "--json"], &env);
    let token = last_token(&recorder);
    assert_eq!(
        get_settings_status(&cloud.url, &token),
        200,
        "good while keyed in"
    );

    key_out_restores(&d, &env, &before);

    assert_eq!(
        get_settings_status(&cloud.url, &token),
        401,
        "revoked at key-out"
    );
}
