//! Key-out revokes the session's token (audit, issue 12 item 20), against the real
//! `attune-cloud`: the token the session held is refused (401) right after key-out, instead of
//! staying good for the rest of its hour.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use attune_testkit::FaultProxy;

use crate::common::{prepared_desktop, TOUCHED_SCHEMAS};
use crate::real_cloud::start_cloud;
use crate::reconnect::{env, KEY};

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
    let addr = cloud_url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let device = "%7B%22OS%22%3A%7B%22id%22%3A%22linux%22%7D%2C%22solutions%22%3A%5B%5D%7D";
    write!(
        s,
        "GET /{KEY}/settings/{device} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Accept: application/json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = String::new();
    BufReader::new(s).read_line(&mut head).unwrap();
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn after_key_out_the_sessions_token_is_refused_by_the_real_cloud() {
    let d = prepared_desktop();
    let before = d.snapshot(TOUCHED_SCHEMAS);
    let cloud = start_cloud(d.dir.path());
    let recorder = FaultProxy::start(cloud.url.trim_start_matches("http://").parse().unwrap());
    let o = d.attune_with(&["key-in", KEY, "--json"], &env(&recorder.url()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let token = last_token(&recorder);
    assert_eq!(
        get_settings_status(&cloud.url, &token),
        200,
        "good while keyed in"
    );

    assert!(d
        .attune_with(&["key-out"], &env(&recorder.url()))
        .status
        .success());

    assert_eq!(d.snapshot(TOUCHED_SCHEMAS), before);
    assert_eq!(
        get_settings_status(&cloud.url, &token),
        401,
        "revoked at key-out"
    );
}
