//! The input format of the response targets, readable and writable by hand:
//!
//! ```text
//! <kind> [status]
//! Header-Name: value
//!
//! body…
//! ```
//! An unknown kind picks one from the first byte, so random bytes still reach every parser.
#![allow(dead_code)]

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// One fuzz input: which parser, the HTTP status, headers and body.
pub struct Input<'a> {
    /// Index into the target's kinds.
    pub kind: usize,
    /// HTTP status (200 when not given).
    pub status: u16,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as bytes.
    pub body: &'a [u8],
}

/// Splits `data` into an [`Input`].
pub fn split<'a>(data: &'a [u8], kinds: &[&str]) -> Option<Input<'a>> {
    let first = *data.first()?;
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    let mut lines = head.lines();
    let mut words = lines.next().unwrap_or("").split_whitespace();
    let kind = words
        .next()
        .and_then(|k| kinds.iter().position(|x| *x == k))
        .unwrap_or(first as usize % kinds.len());
    let status = words.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Some((n, v)) = line.split_once(':') {
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(n.trim().as_bytes()),
                HeaderValue::from_str(v.trim()),
            ) {
                headers.append(n, v);
            }
        }
    }
    Some(Input {
        kind,
        status,
        headers,
        body,
    })
}
