//! Helpers shared by the fuzz targets.
#![allow(dead_code)]

/// A secret the product is given (so the target knows it): Entra-shaped, with `~`.
pub const KNOWN_SECRET: &str = "Zq8~FuzzKnownSecret.0123456789-abcdefghij";

/// True when `s` can stand for a secret in an assertion: long enough for `redact::scrub` (4+),
/// printable ASCII (what Entra secrets, Jamf API client secrets and passwords are made of), and
/// not `[redacted]`-shaped (a secret made of the placeholder's own characters is not checked).
pub fn checkable(s: &str) -> bool {
    s.len() >= 8
        && s.bytes().all(|b| (0x21..0x7f).contains(&b))
        && !"[redacted]".contains(s)
        && s.contains('~')
}

/// Every string (keys and values) in `v`, recursively.
pub fn strings(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                out.push(k.clone());
                strings(x, out);
            }
        }
        _ => {}
    }
}

/// True when `secret` occurs exactly once among the strings of `v` (it is only where we put it),
/// so any echo of it in an error is a leak rather than a quote of another field.
pub fn only_once(v: &serde_json::Value, secret: &str) -> bool {
    let mut all = Vec::new();
    strings(v, &mut all);
    all.iter().filter(|s| s.contains(secret)).count() == 1
}

/// Panics when `text` holds `secret`.
pub fn assert_no_secret(what: &str, text: &str, secret: &str) {
    assert!(
        !text.contains(secret),
        "{what} leaks the secret {secret:?}: {text}"
    );
}
