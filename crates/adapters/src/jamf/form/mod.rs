//! Discovering the Microsoft Intune integration's form on Jamf Pro's Conditional Access page, and
//! reading what the page says after Save.
//!
//! Jamf Pro publishes no names for the page's inputs, so nothing here assumes them: the page is
//! parsed with a real HTML parser, the form is the one that carries a password input (the client
//! secret), every control is collected with the value the page rendered, the way a browser builds
//! a form submission, and only the secret is changed. The application-ID control is identified by
//! its name or label (or, failing that, as the only text input holding a GUID) and cross-checked;
//! when it cannot be identified the target refuses instead of guessing. Any name can be set in
//! the document (`jamf.secret_field`, `jamf.application_id_field`).
//!
//! A page is Jamf Pro's or a hostile server's: the work on it is linear in its size (one walk, a
//! label map built once, label texts read within a bound), and a page with more than
//! [`MAX_FORMS`] forms or [`MAX_CONTROLS`] controls is refused. The target reads pages off the
//! async runtime under a time limit (`conditional_access::off_runtime`); the response body cap
//! ([`crate::http::MAX_RESPONSE_BYTES`]) bounds the page before it is parsed.
//!
//! Layout: this file holds the types and the HTML helpers; `discovery` finds the form and its
//! secret and application-ID controls; `controls` collects what every form submits in one walk;
//! `tokens` tells which rendered values must never be shown; `submission` encodes the
//! submission; `outcome` recognises the login page and reads the page after Save.

use crate::redact::REDACTED;
use scraper::{ElementRef, Html, Selector};
use serde::Serialize;
use url::Url;

mod controls;
mod discovery;
mod outcome;
mod submission;
#[cfg(test)]
mod tests;
mod tokens;

pub use discovery::{discover, read_edit_page, EditPage};
pub use outcome::{is_login_page, save_outcome, SaveOutcome};

/// Path of the Conditional Access edit page below the server's base URL.
pub const DEFAULT_PAGE_PATH: &str = "ConditionalAccess.html?o=u";

/// Longest page text kept in an error.
const MAX_MESSAGE: usize = 300;

/// Most forms a page may hold: Jamf Pro's settings pages have a handful. A page with more is
/// refused before any control is read (form discovery must stay cheap on a hostile page).
pub const MAX_FORMS: usize = 64;
/// Most controls (inputs, selects, textareas, buttons) a page may hold: the settings pages have
/// tens.
pub const MAX_CONTROLS: usize = 2_000;

/// What kind of control a form field is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ControlKind {
    /// `<input type=hidden>`.
    Hidden,
    /// A text-like input (`text`, `email`, `url`, `number`, …).
    Text,
    /// A checked `<input type=checkbox>`.
    Checkbox,
    /// The checked `<input type=radio>` of its group.
    Radio,
    /// A selected `<option>` of a `<select>`.
    Select,
    /// `<textarea>`.
    Textarea,
    /// `<input type=password>`.
    Password,
    /// The submit control the form is sent with.
    Submit,
}

/// One name=value pair the form submits, with the value the page rendered.
#[derive(Clone)]
pub struct Control {
    /// The control's `name`.
    pub name: String,
    /// Its kind.
    pub kind: ControlKind,
    /// Its `id`, when it has one.
    pub id: Option<String>,
    /// Its label text (`<label for>`, an enclosing label, `aria-label`, `placeholder`, `title`).
    pub label: Option<String>,
    value: String,
    /// The client-secret control (whatever its type, e.g. a text input named by
    /// `jamf.secret_field`): its value is a secret.
    secret: bool,
}

impl Control {
    /// True for values that must never be shown: passwords, controls named like a token (the
    /// CSRF `session-token`, `csrf`, `_xsrf`, `nonce`, …), and hidden values shaped like a token
    /// whatever their name (a JWT, a long random-looking hex or base64 run).
    pub fn is_sensitive(&self) -> bool {
        self.secret
            || self.kind == ControlKind::Password
            || tokens::names_a_secret(&self.name)
            || (self.kind == ControlKind::Hidden && tokens::looks_like_token(&self.value))
    }

    /// The value for reports: the rendered value, or [`REDACTED`] for sensitive controls.
    pub fn shown_value(&self) -> String {
        if self.is_sensitive() && !self.value.is_empty() {
            REDACTED.to_string()
        } else {
            self.value.clone()
        }
    }
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("value", &self.shown_value())
            .finish()
    }
}

/// Names the document may set instead of discovery.
#[derive(Debug, Clone, Default)]
pub struct FormHints {
    /// `jamf.secret_field`.
    pub secret_field: Option<String>,
    /// `jamf.application_id_field`.
    pub application_id_field: Option<String>,
}

/// The Microsoft Intune integration's form as the page rendered it.
#[derive(Debug, Clone)]
pub struct IntuneForm {
    /// Where the form posts to (same origin as the page: checked).
    pub action: Url,
    /// Every pair the form submits, in tree order, the submit control included.
    pub controls: Vec<Control>,
    /// Index of the client-secret control in `controls`.
    pub secret: usize,
    /// Index of the application-ID control.
    pub application_id: usize,
    /// Index of the submit control, when it has a name (a nameless one submits no pair).
    pub submit: Option<usize>,
    /// How the submit control was described (`input[type=submit] value="Save"`).
    pub submit_label: String,
    /// True when the form says `enctype="multipart/form-data"`.
    pub multipart: bool,
}

/// A form submission ready to send: its content type and body.
pub struct Encoded {
    /// `application/x-www-form-urlencoded` or `multipart/form-data; boundary=…`.
    pub content_type: String,
    /// The body (holds the secret: never log it).
    pub body: String,
}

fn title(doc: &Html) -> String {
    doc.select(&sel("title"))
        .next()
        .map(|t| collapse(&t.text().collect::<String>()))
        .unwrap_or_else(|| "untitled".into())
}

fn attr_lc(el: &ElementRef, name: &str) -> String {
    el.attr(name).unwrap_or("").trim().to_ascii_lowercase()
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn sel(s: &str) -> Selector {
    Selector::parse(s).expect("static selector parses")
}
