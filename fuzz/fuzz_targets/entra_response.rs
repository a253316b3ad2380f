//! Entra and Graph answers: the token endpoint (token, refusal, AADSTS codes), Graph's error
//! shape, the application, a password credential, `addPassword`, app management policies and
//! their ISO 8601 durations, and the rotator's own credentials secret. Never panics; errors never
//! hold the secrets the product was given or received (`secretText`, `access_token`, the
//! rotator's secret, secrets Graph echoes back).
#![no_main]

#[path = "common.rs"]
mod common;
#[path = "http.rs"]
mod http;

use chrono::{TimeZone, Utc};
use common::{assert_no_secret, checkable, only_once, KNOWN_SECRET};
use jamf_entra_rotator::entra::wire::Raw;
use jamf_entra_rotator::entra::{graph, policy, token, RotatorIdentity};
use libfuzzer_sys::fuzz_target;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

const KINDS: &[&str] = &[
    "application",
    "credential",
    "new_password",
    "graph_error",
    "per_app",
    "tenant_default",
    "duration",
    "token",
    "token_refusal",
    "aadsts",
    "identity",
    "json",
];

fn known_in(data: &[u8]) -> bool {
    data.windows(15).any(|w| w == b"FuzzKnownSecret")
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = http::split(data, KINDS) else {
        return;
    };
    let raw = Raw {
        status: input.status,
        headers: input.headers.clone(),
        body: input.body.to_vec(),
    };
    let text = String::from_utf8_lossy(input.body);
    let json: Option<Value> = serde_json::from_slice(input.body).ok();
    let op = "fuzz";
    match KINDS[input.kind] {
        "application" => {
            if let Some(v) = &json {
                if let Ok(app) = graph::application(v, op) {
                    let _ = format!("{app:?}");
                }
            }
        }
        "credential" => {
            if let Some(v) = &json {
                let _ = graph::credential(v, "passwordCredentials[0].", op);
            }
        }
        "new_password" => {
            let Some(v) = json else { return };
            // As received, then with a known secret put in.
            let given = v
                .get("secretText")
                .and_then(Value::as_str)
                .filter(|s| checkable(s) && only_once(&v, s))
                .map(str::to_string);
            let mut variants = vec![(v.clone(), given)];
            if let (Some(obj), false) = (v.as_object(), known_in(data)) {
                let mut obj = obj.clone();
                obj.insert("secretText".into(), Value::String(KNOWN_SECRET.into()));
                variants.push((Value::Object(obj), Some(KNOWN_SECRET.to_string())));
            }
            for (v, secret) in variants {
                let shown = match graph::new_password(v, op) {
                    Ok(p) => {
                        if let Some(s) = &secret {
                            assert_eq!(p.secret.expose_secret(), s);
                        }
                        format!("{p:?}")
                    }
                    Err(e) => e.to_string(),
                };
                if let Some(s) = &secret {
                    assert_no_secret("addPassword answer", &shown, s);
                }
            }
        }
        "graph_error" => {
            // Graph echoing the secret we sent (addPassword's answer, a proxy's error page).
            let known = SecretString::from(KNOWN_SECRET);
            let f = graph::error(&raw, op, &[&known]);
            let shown = format!("{} {:?}", f.error, f.retry);
            if !input
                .headers
                .values()
                .any(|v| v.as_bytes().windows(15).any(|w| w == b"FuzzKnownSecret"))
            {
                assert_no_secret("Graph error", &shown, KNOWN_SECRET);
            }
        }
        "per_app" => {
            if let Some(v) = &json {
                let _ = policy::per_app(v, op);
            }
        }
        "tenant_default" => {
            if let Some(v) = &json {
                let _ = policy::tenant_default(v, op);
            }
        }
        "duration" => {
            let _ = policy::iso8601_duration(&text);
        }
        "token" => {
            // As received, then with a known token put in; a token is cached as the engine does.
            let mut variants = vec![(raw, None)];
            if let (Some(Value::Object(obj)), false) = (&json, known_in(data)) {
                let mut obj = obj.clone();
                obj.insert("access_token".into(), Value::String(KNOWN_SECRET.into()));
                variants.push((
                    Raw {
                        status: 200,
                        headers: Default::default(),
                        body: Value::Object(obj).to_string().into_bytes(),
                    },
                    Some(KNOWN_SECRET),
                ));
            }
            for (raw, secret) in variants {
                match token::parse_issued(&raw, op) {
                    Ok(issued) => {
                        let shown = format!("{issued:?}");
                        if let Some(s) = secret {
                            assert_no_secret("token", &shown, s);
                        }
                        let cache = token::TokenCache::default();
                        let key = ("tenant".to_string(), "scope".to_string());
                        let now = Utc.with_ymd_and_hms(2026, 11, 28, 16, 0, 0).unwrap();
                        cache.put(key.clone(), &issued, now);
                        let _ = cache.get(&key, now);
                    }
                    Err(e) => {
                        if let Some(s) = secret {
                            assert_no_secret("token error", &e.to_string(), s);
                        }
                    }
                }
            }
        }
        "token_refusal" => {
            let f = token::refusal(&raw, op, "the rotator's own sign-in");
            let _ = format!("{} {:?}", f.error, f.retry);
        }
        "aadsts" => {
            let _ = token::aadsts_in(&text);
        }
        "identity" => {
            // The body is the secret's value; a first header `client-id` is ROTATOR_CLIENT_ID.
            let setting = input
                .headers
                .get("client-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let value = SecretString::from(text.to_string());
            let secret = match &json {
                Some(v) => v
                    .get("client_secret")
                    .and_then(Value::as_str)
                    .map(|s| s.trim().to_string())
                    .filter(|s| checkable(s) && only_once(v, s)),
                None => Some(text.trim().to_string()).filter(|s| checkable(s)),
            }
            // The client id setting is shown (it is not a secret): a secret inside it is not ours.
            .filter(|s| !setting.as_deref().is_some_and(|c| c.contains(s.as_str())));
            match RotatorIdentity::from_secret_value(setting.as_deref(), &value) {
                Ok(id) => {
                    if let Some(s) = &secret {
                        assert_no_secret("rotator identity Debug", &format!("{id:?}"), s);
                    }
                }
                Err(e) => {
                    if let Some(s) = &secret {
                        assert_no_secret("rotator identity error", &e.to_string(), s);
                    }
                }
            }
        }
        _ => {
            // Any body read as JSON: the error describes it and never quotes it.
            if let Err(e) = raw.json(op) {
                let shown = e.to_string();
                let in_headers = input
                    .headers
                    .values()
                    .any(|v| v.as_bytes().windows(15).any(|w| w == b"FuzzKnownSecret"));
                if !in_headers {
                    assert_no_secret("JSON error", &shown, KNOWN_SECRET);
                }
            }
        }
    }
});
