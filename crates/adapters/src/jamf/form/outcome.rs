//! Reading what Jamf Pro served: its login page (the session expired), or the page after Save
//! (saved, an error, or nothing recognisable).

use super::controls::{bounded_text, TextBound};
use super::{attr_lc, sel, title, MAX_MESSAGE};
use crate::redact::{scrub, truncate};
use scraper::{ElementRef, Html};
use secrecy::SecretString;

/// How much of an error's text is read: past [`MAX_MESSAGE`] and any secret to scrub.
const ERROR_TEXT: TextBound = TextBound {
    nodes: 512,
    chars: 4096,
};

/// True when `html` is Jamf Pro's login page (a form with a username and a password input): what
/// the server serves instead of a settings page once the session has expired.
pub fn is_login_page(html: &str) -> bool {
    is_login_doc(&Html::parse_document(html))
}

/// [`is_login_page`] of a parsed page.
pub(super) fn is_login_doc(doc: &Html) -> bool {
    doc.select(&sel("form")).any(|form| {
        let inputs: Vec<ElementRef> = form.select(&sel("input")).collect();
        let has = |pred: &dyn Fn(&ElementRef) -> bool| inputs.iter().any(pred);
        has(&|e| attr_lc(e, "type") == "password")
            && has(&|e| {
                e.attr("name")
                    .is_some_and(|n| n.eq_ignore_ascii_case("username"))
            })
    })
}

/// What the page after Save said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    /// The settings' read view: the integration with its application ID, no error, no edit form.
    Saved,
    /// The page shows an error (its text, scrubbed of the given secrets).
    Failed(String),
    /// The login page: the session expired before the POST was accepted.
    LoginPage,
    /// Anything else (its title): success cannot be claimed.
    Unrecognised(String),
}

/// Reads the page Jamf Pro answered Save with. `application_id` is what the form held: a page
/// that saved shows it again. Error texts are scrubbed of `secrets`.
pub fn save_outcome(html: &str, application_id: &str, secrets: &[&SecretString]) -> SaveOutcome {
    let doc = Html::parse_document(html);
    if is_login_doc(&doc) {
        return SaveOutcome::LoginPage;
    }
    // The first error shown; its text read within a bound (an error nested in another would
    // otherwise be read once per level), long enough to scrub a secret before it is cut.
    let mut visits = 0;
    let first = doc
        .select(&sel("[class], [role], [id]"))
        .filter(|e| {
            let class = attr_lc(e, "class");
            let flagged = class.split_whitespace().any(|c| {
                ["error", "danger", "fail", "validation"]
                    .iter()
                    .any(|w| c.contains(w))
            }) || attr_lc(e, "role") == "alert"
                || attr_lc(e, "id").contains("error");
            flagged
                && !attr_lc(e, "style")
                    .replace(' ', "")
                    .contains("display:none")
        })
        .map(|e| bounded_text(&e, ERROR_TEXT, &mut visits))
        .find(|t| !t.is_empty());
    if let Some(first) = first {
        return SaveOutcome::Failed(truncate(&scrub(&first, secrets), MAX_MESSAGE));
    }
    // Jamf Pro answers a successful Save with the read view. The edit form coming back without
    // a recognisable error may be an error this code cannot read: never call that success.
    if doc.select(&sel("input[type=password i]")).next().is_some() {
        return SaveOutcome::Unrecognised(format!(
            "{}: the edit form came back with no recognisable error",
            truncate(&scrub(&title(&doc), secrets), 80)
        ));
    }
    let lower = html.to_ascii_lowercase();
    if lower.contains("intune")
        && !application_id.is_empty()
        && lower.contains(&application_id.to_ascii_lowercase())
    {
        SaveOutcome::Saved
    } else {
        SaveOutcome::Unrecognised(truncate(&scrub(&title(&doc), secrets), 80))
    }
}
