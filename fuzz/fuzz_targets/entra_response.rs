//! Entra and Graph answers: the token endpoint (token, refusal, AADSTS codes), Graph's error
//! shape, the application, a password credential, `addPassword`, app management policies and
//! their ISO 8601 durations, the credential sign-in activity report, the rotator's own
//! credentials secret (client secret or `{"private_key_pem","certificate_pem"}`) and the STS
//! `GetWebIdentityToken` answer (federated mode). Never panics; errors never hold the secrets the
//! product was given or received (`secretText`, `access_token`, the rotator's secret or private
//! key, a web identity token, secrets Graph echoes back).
#![no_main]

#[path = "common.rs"]
mod common;
#[path = "http.rs"]
mod http;

use chrono::{TimeZone, Utc};
use common::{assert_no_secret, checkable, only_once, KNOWN_SECRET};
use rotator_adapters::entra::wire::Raw;
use rotator_adapters::entra::{
    graph, policy, signins, token, RotatorIdentity, RotatorSignIn, StsWebIdentityTokens,
    WebIdentityTokens,
};
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
    "signins",
    "certificate",
    "sts",
];

/// The rotator's test key (`src/sim/test_keys`): planted as `private_key_pem`.
const TEST_KEY: &str = include_str!("../../crates/testkit/src/test_keys/rotator_certificate_key.pem");

/// The key's base64 lines: none may show up in an error or `Debug`.
fn key_lines(pem: &str) -> Vec<&str> {
    pem.lines()
        .map(str::trim)
        .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
        .collect()
}

/// STS answers through the SDK's own client: a connector that answers every request with the
/// current input (status, headers, body); no retries, so nothing sleeps.
mod sts {
    use aws_sdk_sts::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_runtime_api::client::http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    };
    use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
    use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use std::sync::{Mutex, OnceLock};

    /// The answer the connector gives: status, headers, body.
    pub static ANSWER: Mutex<(u16, Vec<(String, String)>, Vec<u8>)> =
        Mutex::new((200, Vec::new(), Vec::new()));

    #[derive(Debug, Clone)]
    struct Replay;

    impl HttpConnector for Replay {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let (status, headers, body) = ANSWER.lock().unwrap().clone();
            let status = StatusCode::try_from(status).unwrap_or(StatusCode::try_from(500).unwrap());
            let mut r = HttpResponse::new(status, SdkBody::from(body));
            for (n, v) in headers {
                r.headers_mut().append(n, v);
            }
            HttpConnectorFuture::ready(Ok(r))
        }
    }

    impl HttpClient for Replay {
        fn http_connector(
            &self,
            _: &HttpConnectorSettings,
            _: &RuntimeComponents,
        ) -> SharedHttpConnector {
            SharedHttpConnector::new(self.clone())
        }
    }

    /// The runtime and the client, built once.
    pub fn world() -> &'static (tokio::runtime::Runtime, aws_sdk_sts::Client) {
        static WORLD: OnceLock<(tokio::runtime::Runtime, aws_sdk_sts::Client)> = OnceLock::new();
        WORLD.get_or_init(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let conf = aws_sdk_sts::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new("us-east-1"))
                .credentials_provider(Credentials::new("AKIDFUZZ", "fuzz", None, None, "fuzz"))
                .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
                .http_client(SharedHttpClient::new(Replay))
                .build();
            (rt, aws_sdk_sts::Client::from_conf(conf))
        })
    }
}

/// With `FUZZ_SHOW` set (replaying a seed by hand), prints what a parser made of it.
fn show(kind: &str, what: &str) {
    if std::env::var_os("FUZZ_SHOW").is_some() {
        eprintln!("{kind}: {what}");
    }
}

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
        "signins" => {
            // `GET /beta/reports/appCredentialSignInActivities`, read as the directory reads it;
            // a first header `key-id` names the key looked for. Again with a client secret
            // planted where Graph could echo one (the date, the request id).
            let key_id = input
                .headers
                .get("key-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("6b1c0f3e-54d7-4a5b-9e0c-2f1d3a4b5c6d")
                .to_string();
            let Ok(report) = raw.json(op) else { return };
            let last = |r: &Value, k: &str| signins::last_used(r, k, op).map_err(|e| e.to_string());
            // The key id is matched without regard to ASCII case.
            assert_eq!(
                last(&report, &key_id.to_ascii_uppercase()),
                last(&report, &key_id.to_ascii_lowercase()),
                "sign-in activity depends on the key id's case"
            );
            show("signins", &format!("{:?}", last(&report, &key_id)));
            if known_in(data) {
                return;
            }
            let mut planted = report.clone();
            let Some(entries) = planted.get_mut("value").and_then(Value::as_array_mut) else {
                return;
            };
            let mut wanted = None;
            for e in entries.iter_mut() {
                if let Some(obj) = e.as_object_mut() {
                    wanted = wanted
                        .or_else(|| obj.get("keyId").and_then(Value::as_str).map(str::to_string));
                    obj.insert(
                        "signInActivity".into(),
                        serde_json::json!({
                            "lastSignInDateTime": KNOWN_SECRET,
                            "lastSignInRequestId": KNOWN_SECRET,
                        }),
                    );
                }
            }
            if let Err(e) = last(&planted, wanted.as_deref().unwrap_or(&key_id)) {
                assert_no_secret("sign-in activity error", &e, KNOWN_SECRET);
            }
        }
        "certificate" => {
            // The `certificate` mode secret value; a first header `client-id` is
            // ROTATOR_CLIENT_ID. As received, then with the test key as `private_key_pem` and a
            // client secret beside it.
            let setting = input
                .headers
                .get("client-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            // Client ids are shown by design: a secret inside one is not the product's leak.
            let shown_ids = |v: Option<&Value>| {
                let mut ids: Vec<String> = setting.iter().cloned().collect();
                if let Some(Value::String(c)) = v.and_then(|v| v.get("client_id")) {
                    ids.push(c.clone());
                }
                ids
            };
            let given = json.as_ref().and_then(|v| {
                v.get("private_key_pem")
                    .and_then(Value::as_str)
                    .map(|s| s.trim().to_string())
                    .filter(|s| checkable(s) && only_once(v, s))
            });
            let mut variants = vec![(
                SecretString::from(text.to_string()),
                given.into_iter().collect::<Vec<_>>(),
                shown_ids(json.as_ref()),
            )];
            if let (Some(Value::Object(obj)), false) = (&json, known_in(data)) {
                let mut obj = obj.clone();
                obj.insert("private_key_pem".into(), Value::String(TEST_KEY.into()));
                obj.insert("client_secret".into(), Value::String(KNOWN_SECRET.into()));
                let v = Value::Object(obj);
                let mut secrets: Vec<String> = key_lines(TEST_KEY)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                secrets.push(KNOWN_SECRET.to_string());
                variants.push((
                    SecretString::from(v.to_string()),
                    secrets,
                    shown_ids(Some(&v)),
                ));
            }
            for (value, secrets, ids) in variants {
                let shown = match RotatorSignIn::from_certificate_secret(setting.as_deref(), &value)
                {
                    Ok(signin) => format!("{signin:?}"),
                    Err(e) => format!("{e} {e:?}"),
                };
                show("certificate", &shown);
                for s in secrets
                    .iter()
                    .filter(|s| !ids.iter().any(|c| c.contains(s.as_str())))
                {
                    assert_no_secret("certificate credential", &shown, s);
                }
            }
        }
        "sts" => {
            // STS `GetWebIdentityToken` answers (query protocol XML) through the SDK. In a 2xx
            // answer, a `<WebIdentityToken>` of `@TOKEN@` (or empty) becomes a known token.
            let mut body = input.body.to_vec();
            let planted = (200..300).contains(&input.status) && !known_in(data) && {
                let t = String::from_utf8_lossy(&body);
                // Only as the token's value: STS puts it nowhere else.
                let tag = format!("<WebIdentityToken>{KNOWN_SECRET}</WebIdentityToken>");
                let replaced = t
                    .replace("<WebIdentityToken>@TOKEN@</WebIdentityToken>", &tag)
                    .replace("<WebIdentityToken></WebIdentityToken>", &tag);
                let changed = replaced.contains(KNOWN_SECRET);
                body = replaced.into_bytes();
                changed
            };
            let headers = input
                .headers
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            *sts::ANSWER.lock().unwrap() = (input.status, headers, body);
            let (rt, client) = sts::world();
            let source = StsWebIdentityTokens::new(client.clone());
            let shown = match rt.block_on(source.token()) {
                Ok(t) => format!("{t:?}"),
                Err(e) => format!("{e} {e:?}"),
            };
            show("sts", &shown);
            if planted {
                assert_no_secret("STS answer", &shown, KNOWN_SECRET);
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
