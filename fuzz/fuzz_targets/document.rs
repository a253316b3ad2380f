//! `TargetDocument::parse`: never panics; an error never holds the client secret; a document
//! that parses survives its own serialisation, and its `Debug` never shows the secret.
#![no_main]

#[path = "common.rs"]
mod common;

use common::{assert_no_secret, checkable, only_once, KNOWN_SECRET};
use rotator_engine::document::{TargetDocument, MAX_DOCUMENT_BYTES};
use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;
use serde_json::Value;

fn check(text: &str, secret: Option<&str>) {
    match TargetDocument::parse(text) {
        Err(e) => {
            if let Some(s) = secret {
                assert_no_secret("document error", &e.to_string(), s);
            }
        }
        Ok(doc) => {
            let dbg = format!("{doc:?}");
            let label = doc.label();
            let stored = doc.to_secret();
            let s = doc.entra.client_secret.expose_secret().to_string();
            if checkable(&s) && !label.contains(&s) {
                // Debug shows every field but the secret: only a secret that is also another
                // field's value can appear there.
                if secret.is_some() {
                    assert_no_secret("document Debug", &dbg, &s);
                }
            }
            if stored.expose_secret().len() <= MAX_DOCUMENT_BYTES {
                let again = TargetDocument::parse(stored.expose_secret())
                    .unwrap_or_else(|e| panic!("a stored document does not parse again: {e}"));
                assert_eq!(again.entra.client_secret.expose_secret(), s);
                assert_eq!(again.to_secret().expose_secret(), stored.expose_secret());
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // 1. The text as given; the secret is known when `entra.client_secret` is a string found
    //    nowhere else in the document.
    let v: Option<Value> = serde_json::from_str(text).ok();
    let given = v
        .as_ref()
        .and_then(|v| v.pointer("/entra/client_secret"))
        .and_then(Value::as_str)
        .filter(|s| checkable(s))
        .filter(|s| v.as_ref().is_some_and(|v| only_once(v, s)))
        // The typed parse sees duplicate keys the `Value` dropped, and escapes hide copies:
        // the secret must be written once, and nothing escaped.
        .filter(|s| text.matches(*s).count() == 1 && !text.contains("\\u"))
        .map(str::to_string);
    check(text, given.as_deref());

    // 2. The same document with a known secret put in (when it has an `entra` object).
    if let Some(mut v) = v {
        if text.contains("FuzzKnownSecret") {
            return;
        }
        if let Some(entra) = v.get_mut("entra").and_then(Value::as_object_mut) {
            entra.insert("client_secret".into(), Value::String(KNOWN_SECRET.into()));
            let text = v.to_string();
            check(&text, Some(KNOWN_SECRET));
        }
    }
});
