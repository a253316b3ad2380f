//! The conditional-access page: `jamf::form::discover` (the Intune form and what it submits),
//! `save_outcome` (the page after Save) and `is_login_page`. Never panics; the password input's
//! rendered value and the session token never appear in an error or a `Debug`; a secret the page
//! echoes after Save is scrubbed; the form never posts to another server.
//!
//! Input: a first line `discover [secret_field] [application_id_field]`, `save [application id]`
//! or `login`, a blank line, then the page. A word `*N` on the first line repeats the page N
//! times (up to [`MAX_PAGE`] bytes): small inputs become large hostile pages (hundreds of forms,
//! thousands of controls and labels), which must be refused by the caps or read within them.
#![no_main]

#[path = "common.rs"]
mod common;

use common::{assert_no_secret, checkable, KNOWN_SECRET};
use rotator_adapters::jamf::form::{
    discover, is_login_page, save_outcome, FormHints, SaveOutcome,
};
use libfuzzer_sys::fuzz_target;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

const KINDS: &[&str] = &["discover", "save", "login"];

/// The largest page a `*N` repeat builds. Not the 2 MiB body cap: html5ever's tree builder is
/// quadratic in nesting depth (40,000 nested elements take over 10 s), which the product bounds
/// with its read time limit, off the runtime; a fuzz run would only report it as a timeout.
const MAX_PAGE: usize = 64 * 1024;

/// The page, repeated as a `*N` word asks (the word removed from `words`).
fn repeated<'a>(page: &str, words: &mut Vec<&'a str>) -> String {
    let Some(i) = words.iter().position(|w| w.starts_with('*')) else {
        return page.to_string();
    };
    let n: usize = words.remove(i)[1..].parse().unwrap_or(1);
    let n = n.clamp(1, MAX_PAGE / page.len().max(1));
    page.repeat(n)
}

fn run_discover(html: &str, hints: &FormHints, known: Option<&str>) {
    let page = Url::parse("https://jamf.example.com/ConditionalAccess.html?o=u").unwrap();
    match discover(html, &page, hints, "GET /ConditionalAccess.html") {
        Ok(form) => {
            assert_eq!(
                form.action.origin(),
                page.origin(),
                "the form posts elsewhere"
            );
            let dbg = format!("{form:?}");
            let mut hidden: Vec<String> = form
                .sensitive_values()
                .iter()
                .map(|s| s.expose_secret().to_string())
                .filter(|s| checkable(s))
                .collect();
            hidden.extend(known.map(str::to_string));
            for s in &hidden {
                // A value shown by a non-sensitive control as well is not the form's secret.
                if !form
                    .controls
                    .iter()
                    .any(|c| !c.is_sensitive() && c.shown_value().contains(s.as_str()))
                    && !form.submit_label.contains(s.as_str())
                {
                    assert_no_secret("form Debug", &dbg, s);
                }
            }
            let _ = (
                form.application_id(),
                form.secret_field(),
                form.application_id_field(),
            );
            let new = SecretString::from("n3w~Secret.value-0123456789");
            let body = form.body(&new);
            assert!(body.contains("n3w%7ESecret.value-0123456789"), "{body}");
        }
        Err(e) => {
            // A secret that is also page text (a malformed page can make an attribute part of a
            // title) may be quoted as the page's title, cut short: only values must never be.
            let text: String = scraper::Html::parse_document(html)
                .root_element()
                .text()
                .collect();
            if let Some(s) = known.filter(|s| !text.contains(s)) {
                assert_no_secret("form error", &e.to_string(), s);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(&first) = data.first() else { return };
    let (head, page) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (&[][..], data),
    };
    let head = String::from_utf8_lossy(head);
    let mut words: Vec<&str> = head.split_whitespace().collect();
    let html = repeated(&String::from_utf8_lossy(page), &mut words);
    let mut words = words.into_iter();
    let kind = words
        .next()
        .and_then(|k| KINDS.iter().position(|x| *x == k))
        .unwrap_or(first as usize % KINDS.len());
    let known_in = html.contains("FuzzKnownSecret");
    match KINDS[kind] {
        "discover" => {
            let hints = FormHints {
                secret_field: words.next().map(str::to_string),
                application_id_field: words.next().map(str::to_string),
            };
            run_discover(&html, &hints, None);
            // The same page with a known secret rendered into its first password input.
            if !known_in {
                let needle = "type=\"password\"";
                if let Some(i) = html.find(needle) {
                    let planted = format!(
                        "{}{needle} value=\"{KNOWN_SECRET}\"{}",
                        &html[..i],
                        &html[i + needle.len()..]
                    );
                    run_discover(&planted, &hints, Some(KNOWN_SECRET));
                }
            }
        }
        "save" => {
            let app = words
                .next()
                .unwrap_or("11111111-2222-3333-4444-555555555555");
            let known = SecretString::from(KNOWN_SECRET);
            let shown = match save_outcome(&html, app, &[&known]) {
                SaveOutcome::Saved | SaveOutcome::LoginPage => String::new(),
                SaveOutcome::Failed(m) | SaveOutcome::Unrecognised(m) => m,
            };
            assert_no_secret("page after Save", &shown, KNOWN_SECRET);
        }
        _ => {
            let _ = is_login_page(&html);
        }
    }
});
