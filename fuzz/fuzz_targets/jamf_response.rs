//! Jamf Pro answers: `SmtpServerV2` (`SmtpServer::from_value`), error bodies (Jamf's shape, the
//! OAuth shape, HTML, anything: `jamf::errors::explain`), notifications, SSO failover, and the
//! rotator's Jamf credentials secret. Never panics; no secret (the client secret Jamf must never
//! return, a secret echoed in an error body, the failover URL, the credentials) appears in an
//! error, a `Debug` or the kept raw settings.
#![no_main]

#[path = "common.rs"]
mod common;
#[path = "http.rs"]
mod http;

use common::{assert_no_secret, checkable, only_once, KNOWN_SECRET};
use rotator_adapters::jamf::errors::explain;
use rotator_adapters::jamf::{JamfCredentials, Notification, SmtpServer, SsoFailover};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use serde_json::Value;

const KINDS: &[&str] = &["smtp", "error", "credentials", "notifications", "sso"];

fn known_in(data: &[u8]) -> bool {
    data.windows(15).any(|w| w == b"FuzzKnownSecret")
}

/// Puts the known secret under every `clientSecret`/`password` key, and adds one to
/// `graphApiCredentials` when the object has it.
fn plant(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, x) in map.iter_mut() {
                if k == "clientSecret" || k == "password" {
                    *x = Value::String(KNOWN_SECRET.into());
                } else {
                    plant(x);
                }
            }
            if let Some(Value::Object(g)) = map.get_mut("graphApiCredentials") {
                g.insert("clientSecret".into(), Value::String(KNOWN_SECRET.into()));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(plant),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = http::split(data, KINDS) else {
        return;
    };
    let json: Option<Value> = serde_json::from_slice(input.body).ok();
    let op = "fuzz";
    match KINDS[input.kind] {
        "smtp" => {
            let Some(mut v) = json else { return };
            let _ =
                SmtpServer::from_value(v.clone(), op).map(|s| (s.uses_graph(), format!("{s:?}")));
            if known_in(data) {
                return;
            }
            plant(&mut v);
            let shown = match SmtpServer::from_value(v, op) {
                Ok(s) => format!("{s:?} {}", s.raw),
                Err(e) => e.to_string(),
            };
            assert_no_secret("SMTP settings", &shown, KNOWN_SECRET);
        }
        "error" => {
            // The body may echo the secret that was sent: it never comes out.
            let known = SecretString::from(KNOWN_SECRET);
            let e = explain(input.status, input.body, &[&known]);
            let shown = format!("{} {}", e.code.as_deref().unwrap_or(""), e.message);
            assert_no_secret("Jamf error", &shown, KNOWN_SECRET);
            assert!(
                e.message.chars().count() <= 400,
                "a Jamf error message of {} characters",
                e.message.chars().count()
            );
        }
        "credentials" => {
            let text = String::from_utf8_lossy(input.body);
            let secret = json.as_ref().and_then(|v| {
                ["client_secret", "password"].iter().find_map(|k| {
                    v.get(*k)
                        .and_then(Value::as_str)
                        .filter(|s| checkable(s) && only_once(v, s))
                        .map(str::to_string)
                })
            });
            let shown = match JamfCredentials::parse(&SecretString::from(text.to_string())) {
                Ok(c) => format!("{c:?} {}", c.is_user()),
                Err(e) => e.to_string(),
            };
            if let Some(s) = secret {
                assert_no_secret("Jamf credentials", &shown, &s);
            }
        }
        "notifications" => {
            if let Ok(n) = serde_json::from_slice::<Vec<Notification>>(input.body) {
                let _ = format!("{n:?}");
            }
        }
        _ => {
            let Some(mut v) = json else { return };
            let _ = serde_json::from_value::<SsoFailover>(v.clone()).map(|s| format!("{s:?}"));
            if known_in(data) {
                return;
            }
            if let Some(obj) = v.as_object_mut() {
                obj.insert("failoverUrl".into(), Value::String(KNOWN_SECRET.into()));
                if let Ok(s) = serde_json::from_value::<SsoFailover>(v) {
                    assert_no_secret("SSO failover Debug", &format!("{s:?}"), KNOWN_SECRET);
                }
            }
        }
    }
});
