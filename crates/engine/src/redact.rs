//! Keeping secrets out of everything a person or a log pipeline can read.

use secrecy::{ExposeSecret, SecretString};

/// What every redacted value prints as.
pub const REDACTED: &str = "[redacted]";

/// Removes every occurrence of each secret from `text` (error bodies echoed back by a server, say).
pub fn scrub(text: &str, secrets: &[&SecretString]) -> String {
    let mut out = text.to_string();
    for s in secrets {
        let s = s.expose_secret();
        if s.len() >= 4 {
            out = out.replace(s, REDACTED);
        }
    }
    out
}

/// Cuts a server's message to a sane length for an error or a log line.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// Serde helper: serialises a secret's value (documents written to Secrets Manager only).
pub fn serialize_secret<S: serde::Serializer>(
    secret: &SecretString,
    ser: S,
) -> Result<S::Ok, S::Error> {
    ser.serialize_str(secret.expose_secret())
}

/// Serde helper for an optional secret.
pub fn serialize_opt_secret<S: serde::Serializer>(
    secret: &Option<SecretString>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(s) => ser.serialize_some(s.expose_secret()),
        None => ser.serialize_none(),
    }
}
