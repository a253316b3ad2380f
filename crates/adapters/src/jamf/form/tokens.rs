//! Which rendered values must never be shown: those of controls named like a token (`csrf`,
//! `_xsrf`, `nonce`, …), and hidden values shaped like one whatever the control's name (a JWT,
//! a long hex or base64 run with a digit and the spread of characters random bytes have).

/// Words in a control's name that mark its value as a secret (compared in lower case).
const SECRET_NAMES: [&str; 9] = [
    "token",
    "csrf",
    "xsrf",
    "nonce",
    "secret",
    "password",
    "session",
    "authenticity",
    "signature",
];

/// Runs of token characters longer than this may be tokens.
const MIN_TOKEN_RUN: usize = 17;
/// Bits of Shannon entropy per character from which a run reads as random (English words and
/// repeated characters stay below; hex and base64 of random bytes are above 3.3).
const MIN_BITS_PER_CHAR: f64 = 3.0;

/// True when a control named `name` holds a secret by its name.
pub(super) fn names_a_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_NAMES.iter().any(|w| name.contains(w))
}

/// True when `value` looks like a token: a JWT, or a run of more than 16 hex or base64
/// characters holding a digit and as varied as random bytes.
pub(super) fn looks_like_token(value: &str) -> bool {
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || "+/=_-.~".contains(c)))
        .any(|run| is_jwt(run) || run.split('.').any(is_random_run))
}

fn is_jwt(run: &str) -> bool {
    let parts: Vec<&str> = run.split('.').collect();
    parts.len() == 3 && parts[0].starts_with("eyJ") && parts[1].len() >= 4
}

fn is_random_run(run: &str) -> bool {
    // A GUID names something (an application, a device); it is not a credential.
    let guid = run.split('-').map(str::len).eq([8, 4, 4, 4, 12])
        && run.chars().all(|c| c == '-' || c.is_ascii_hexdigit());
    !guid
        && run.len() >= MIN_TOKEN_RUN
        && run.bytes().any(|b| b.is_ascii_digit())
        && bits_per_char(run) >= MIN_BITS_PER_CHAR
}

fn bits_per_char(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names() {
        for name in [
            "csrf",
            "_xsrf",
            "nonce",
            "session-token",
            "X-CSRF-Token",
            "authenticity_token",
        ] {
            assert!(names_a_secret(name), "{name}");
        }
        for name in ["domainName", "applicationId", "cloud", "notes"] {
            assert!(!names_a_secret(name), "{name}");
        }
    }

    #[test]
    fn token_shaped_values() {
        let tokens = [
            "9f86d081884c7d659a2feaa0c55ad015",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            "dGhpcyBpcyBhIHNlY3JldCB2YWx1ZTEyMw==",
            "prefix:Zq8~FuzzKnownSecret.0123456789-abcdefghij",
            "ab12CD34ef56GH78ij90",
        ];
        for v in tokens {
            assert!(looks_like_token(v), "{v}");
        }
        let plain = [
            "",
            "true",
            "contoso.onmicrosoft.com",
            "11111111-2222-3333-4444-555555555555",
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
            "managed by IT",
            "internationalization",
            "aaaaaaaaaaaaaaaaaaaaaaaa1",
            "GLOBAL",
            "3",
        ];
        for v in plain {
            assert!(!looks_like_token(v), "{v}");
        }
    }
}
