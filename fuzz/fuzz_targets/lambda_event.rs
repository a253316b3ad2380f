//! `lambda::Event::parse`: never panics; an error is short-worded and printable and never holds
//! the `RotationToken`; a step event's `Debug` never shows it.
#![no_main]

#[path = "common.rs"]
mod common;

use common::{assert_no_secret, KNOWN_SECRET};
use rotator_lambda::Event;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn check(v: &Value, token: Option<&str>) {
    match Event::parse(v) {
        Err(e) => {
            let msg = e.to_string();
            assert!(
                !msg.chars().any(char::is_control),
                "control character in an event error: {msg:?}"
            );
            if let Some(t) = token {
                assert_no_secret("event error", &msg, t);
            }
        }
        Ok(event) => {
            if let Some(t) = token {
                assert_no_secret("event Debug", &format!("{event:?}"), t);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(mut v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    check(&v, None);
    // The same event with a known rotation token (a step event's secret) put in.
    if data.windows(15).any(|w| w == b"FuzzKnownSecret") {
        return;
    }
    if let Some(obj) = v.as_object_mut() {
        if obj.contains_key("Step") || obj.contains_key("RotationToken") {
            obj.insert("RotationToken".into(), Value::String(KNOWN_SECRET.into()));
            check(&v, Some(KNOWN_SECRET));
        }
    }
});
