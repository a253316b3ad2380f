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

use crate::ports::TargetError;
use crate::redact::{scrub, truncate, REDACTED};
use scraper::{ElementRef, Html, Selector};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use url::Url;

/// Path of the Conditional Access edit page below the server's base URL.
pub const DEFAULT_PAGE_PATH: &str = "ConditionalAccess.html?o=u";

/// Longest page text kept in an error.
const MAX_MESSAGE: usize = 300;

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
    /// True for values that must never be shown: passwords, and tokens (the CSRF `session-token`).
    pub fn is_sensitive(&self) -> bool {
        self.secret || self.kind == ControlKind::Password || self.name.to_ascii_lowercase().contains("token")
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

impl IntuneForm {
    /// The application (client) id the page shows.
    pub fn application_id(&self) -> &str {
        self.controls[self.application_id].value.trim()
    }

    /// The client-secret control's name.
    pub fn secret_field(&self) -> &str {
        &self.controls[self.secret].name
    }

    /// The application-ID control's name.
    pub fn application_id_field(&self) -> &str {
        &self.controls[self.application_id].name
    }

    /// The `application/x-www-form-urlencoded` body: every pair as rendered, the secret replaced.
    pub fn body(&self, secret: &SecretString) -> String {
        let mut out = url::form_urlencoded::Serializer::new(String::new());
        for (i, c) in self.controls.iter().enumerate() {
            let value = if i == self.secret {
                secret.expose_secret()
            } else {
                c.value.as_str()
            };
            out.append_pair(&c.name, value);
        }
        out.finish()
    }

    /// The submission in the form's own encoding: every pair as rendered, the secret replaced.
    pub fn encode(&self, secret: &SecretString) -> Encoded {
        if !self.multipart {
            return Encoded {
                content_type: "application/x-www-form-urlencoded".into(),
                body: self.body(secret),
            };
        }
        let boundary = format!("----jamf-entra-rotator-{}", uuid::Uuid::new_v4().simple());
        let mut body = String::new();
        for (i, c) in self.controls.iter().enumerate() {
            let value = if i == self.secret {
                secret.expose_secret()
            } else {
                c.value.as_str()
            };
            // Names are escaped the way browsers do (quotes and line breaks percent-encoded).
            let name = c
                .name
                .replace('"', "%22")
                .replace('\r', "%0D")
                .replace('\n', "%0A");
            body += &format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n");
        }
        body += &format!("--{boundary}--\r\n");
        Encoded {
            content_type: format!("multipart/form-data; boundary={boundary}"),
            body,
        }
    }

    /// Values a message about this form must never show (rendered passwords and tokens).
    pub fn sensitive_values(&self) -> Vec<SecretString> {
        self.controls
            .iter()
            .filter(|c| c.is_sensitive() && !c.value.is_empty())
            .map(|c| SecretString::from(c.value.clone()))
            .collect()
    }
}

/// True when `html` is Jamf Pro's login page (a form with a username and a password input): what
/// the server serves instead of a settings page once the session has expired.
pub fn is_login_page(html: &str) -> bool {
    let doc = Html::parse_document(html);
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

/// Finds the Microsoft Intune integration's form on the page at `page_url` and everything it
/// would submit. `operation` names the page load in errors. Errors say what was found and what
/// to set; they never quote a value.
pub fn discover(
    html: &str,
    page_url: &Url,
    hints: &FormHints,
    operation: &str,
) -> Result<IntuneForm, TargetError> {
    let doc = Html::parse_document(html);
    let invalid = |message: String| TargetError::InvalidResponse {
        operation: operation.to_string(),
        message,
    };
    if is_login_page(html) {
        return Err(invalid(
            "Jamf Pro served its login page instead of the settings page".into(),
        ));
    }
    let mut candidates = Vec::new();
    for form in doc.select(&sel("form")) {
        let controls = collect(&doc, form);
        let has_secret = controls.iter().any(|(c, _)| match &hints.secret_field {
            Some(name) => &c.name == name,
            None => c.kind == ControlKind::Password,
        });
        if has_secret {
            let mentions_intune = form.html().to_ascii_lowercase().contains("intune");
            candidates.push((form, controls, mentions_intune));
        }
    }
    if candidates.len() > 1 {
        candidates.retain(|(_, _, intune)| *intune);
    }
    let (form, controls, _) = match candidates.len() {
        1 => candidates.pop().expect("one candidate"),
        0 => {
            return Err(invalid(format!(
                "no form with a client-secret input ({}) on the page \"{}\": is {} the Microsoft Intune integration's edit page?",
                hints.secret_field.as_deref().map(|n| format!("named '{n}'")).unwrap_or_else(|| "a password input".into()),
                truncate(&title(&doc), 80),
                page_url.path()
            )))
        }
        n => return Err(invalid(format!("{n} forms with a client-secret input, none of them clearly the Microsoft Intune integration's"))),
    };

    let method = attr_lc(&form, "method");
    if method != "post" {
        return Err(invalid(format!(
            "the form's method is '{method}', not POST: a secret is never sent in a URL"
        )));
    }
    let enctype = attr_lc(&form, "enctype");
    let multipart = enctype == "multipart/form-data";
    if !enctype.is_empty() && enctype != "application/x-www-form-urlencoded" && !multipart {
        return Err(invalid(format!(
            "the form's encoding '{enctype}' is not supported"
        )));
    }
    let action = match form.attr("action").map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => page_url
            .join(a)
            .map_err(|_| invalid("the form's action is not a URL".into()))?,
        None => page_url.clone(),
    };
    if action.origin() != page_url.origin() {
        return Err(invalid(format!(
            "the form posts to {}, another server than the page: refusing to send the secret there",
            action.host_str().unwrap_or("?")
        )));
    }

    // The submit control: the only one, or the only "Save" among several.
    let submits: Vec<usize> = controls
        .iter()
        .enumerate()
        .filter(|(_, (c, _))| c.kind == ControlKind::Submit)
        .map(|(i, _)| i)
        .collect();
    let chosen = match submits.len() {
        0 => return Err(invalid("the form has no submit control".into())),
        1 => submits[0],
        _ => {
            let saves: Vec<usize> = submits
                .iter()
                .copied()
                .filter(|i| controls[*i].1.to_ascii_lowercase().contains("save"))
                .collect();
            if saves.len() != 1 {
                return Err(invalid(format!(
                    "the form has {} submit controls and not exactly one Save among them",
                    submits.len()
                )));
            }
            saves[0]
        }
    };
    let submit_label = controls[chosen].1.clone();
    let controls: Vec<Control> = controls
        .into_iter()
        .enumerate()
        .filter(|(i, (c, _))| c.kind != ControlKind::Submit || (*i == chosen && !c.name.is_empty()))
        .map(|(_, (c, _))| c)
        .collect();
    let submit = controls.iter().position(|c| c.kind == ControlKind::Submit);

    let secret = find_secret(&controls, hints).map_err(|m| TargetError::Config(m.to_string()))?;
    let mut controls = controls;
    controls[secret].secret = true;
    let application_id = find_application_id(&controls, hints).map_err(TargetError::Config)?;
    Ok(IntuneForm {
        action,
        controls,
        secret,
        application_id,
        submit,
        submit_label,
        multipart,
    })
}

fn find_secret(controls: &[Control], hints: &FormHints) -> Result<usize, String> {
    if let Some(name) = &hints.secret_field {
        return controls
            .iter()
            .position(|c| &c.name == name)
            .ok_or_else(|| format!("the form has no control named '{name}' (jamf.secret_field)"));
    }
    let passwords: Vec<(usize, &Control)> = controls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.kind == ControlKind::Password)
        .collect();
    match passwords.as_slice() {
        [(i, _)] => Ok(*i),
        _ => Err(format!(
            "the form has {} password inputs ({}); set jamf.secret_field to the client secret's name",
            passwords.len(),
            passwords.iter().map(|(_, c)| c.name.as_str()).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn find_application_id(controls: &[Control], hints: &FormHints) -> Result<usize, String> {
    if let Some(name) = &hints.application_id_field {
        return controls
            .iter()
            .position(|c| {
                &c.name == name && matches!(c.kind, ControlKind::Text | ControlKind::Hidden)
            })
            .ok_or_else(|| {
                format!("the form has no text input named '{name}' (jamf.application_id_field)")
            });
    }
    let text_like = |c: &&Control| matches!(c.kind, ControlKind::Text | ControlKind::Hidden);
    let named: Vec<usize> = controls
        .iter()
        .enumerate()
        .filter(|(_, c)| text_like(c))
        .filter(|(_, c)| {
            mentions_app_id(&c.name)
                || c.id.as_deref().is_some_and(mentions_app_id)
                || c.label.as_deref().is_some_and(mentions_app_id)
        })
        .map(|(i, _)| i)
        .collect();
    let guids: Vec<usize> = controls
        .iter()
        .enumerate()
        .filter(|(_, c)| c.kind == ControlKind::Text && is_guid(&c.value))
        .map(|(i, _)| i)
        .collect();
    let names = |idx: &[usize]| {
        idx.iter()
            .map(|i| controls[*i].name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (named.as_slice(), guids.as_slice()) {
        ([i], _) => Ok(*i),
        ([], [i]) => Ok(*i),
        ([], []) => Err("no input of the form is recognisably the application ID (by name, label or a GUID value); \
                         set jamf.application_id_field"
            .into()),
        ([], several) => Err(format!("several inputs hold a GUID ({}); set jamf.application_id_field", names(several))),
        (several, _) => Err(format!("several inputs look like the application ID ({}); set jamf.application_id_field", names(several))),
    }
}

/// True for names and labels like `applicationId`, `azure_app_id`, "Application ID", "Client ID".
fn mentions_app_id(s: &str) -> bool {
    let norm: String = s
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    ["applicationid", "appid", "clientid"]
        .iter()
        .any(|k| norm.contains(k))
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.trim().split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
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
    if is_login_page(html) {
        return SaveOutcome::LoginPage;
    }
    let doc = Html::parse_document(html);
    let errors: Vec<String> = doc
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
        .map(|e| collapse(&e.text().collect::<String>()))
        .filter(|t| !t.is_empty())
        .collect();
    if let Some(first) = errors.first() {
        return SaveOutcome::Failed(truncate(&scrub(first, secrets), MAX_MESSAGE));
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

/// Every control of `form` in tree order (descendants, and elements elsewhere naming it in
/// their `form` attribute), each with a second string describing submit controls.
fn collect(doc: &Html, form: ElementRef) -> Vec<(Control, String)> {
    let form_id = form.attr("id");
    // A form opened inside a table is left empty by the HTML parser, its controls placed after
    // it in the table; browsers still submit them with it (the parser's form pointer). Such a
    // form owns the controls that follow it within its parent, up to the next form.
    let detached = form
        .select(&sel("input, select, textarea, button"))
        .next()
        .is_none();
    let parent = form.parent().map(|p| p.id());
    let mut after_form = false;
    let mut out = Vec::new();
    for el in doc.select(&sel("form, input, select, textarea, button")) {
        if el.value().name() == "form" {
            after_form = el.id() == form.id();
            continue;
        }
        let owner_ok = match el.attr("form") {
            Some(f) => Some(f) == form_id,
            None => {
                el.ancestors().any(|a| a.id() == form.id())
                    || (detached
                        && after_form
                        && parent.is_some_and(|p| el.ancestors().any(|a| a.id() == p))
                        && !el
                            .ancestors()
                            .any(|a| a.value().as_element().is_some_and(|e| e.name() == "form")))
            }
        };
        // A nameless control submits nothing, but a nameless submit control still sends the form.
        let name = el.attr("name").unwrap_or("");
        let is_submit = match el.value().name() {
            "button" => matches!(attr_lc(&el, "type").as_str(), "" | "submit"),
            "input" => attr_lc(&el, "type") == "submit",
            _ => false,
        };
        if !owner_ok || el.attr("disabled").is_some() || (name.is_empty() && !is_submit) {
            continue;
        }
        let label = label_of(doc, &el);
        let push = |out: &mut Vec<(Control, String)>, kind, value: String, describe: String| {
            out.push((
                Control {
                    name: name.to_string(),
                    kind,
                    id: el.attr("id").map(str::to_string),
                    label: label.clone(),
                    value,
                    secret: false,
                },
                describe,
            ))
        };
        let value = el.attr("value").unwrap_or("").to_string();
        match el.value().name() {
            "select" => {
                let options: Vec<ElementRef> = el.select(&sel("option")).collect();
                let option_value = |o: &ElementRef| {
                    o.attr("value")
                        .map(str::to_string)
                        .unwrap_or_else(|| collapse(&o.text().collect::<String>()))
                };
                let selected: Vec<&ElementRef> = options
                    .iter()
                    .filter(|o| o.attr("selected").is_some())
                    .collect();
                if selected.is_empty() {
                    // A single-choice select submits its first option when none is marked.
                    if let (None, Some(first)) = (
                        el.attr("multiple"),
                        options.iter().find(|o| o.attr("disabled").is_none()),
                    ) {
                        push(
                            &mut out,
                            ControlKind::Select,
                            option_value(first),
                            String::new(),
                        );
                    }
                } else {
                    for o in selected {
                        push(
                            &mut out,
                            ControlKind::Select,
                            option_value(o),
                            String::new(),
                        );
                    }
                }
            }
            "textarea" => {
                let text: String = el.text().collect();
                push(
                    &mut out,
                    ControlKind::Textarea,
                    text.strip_prefix('\n').unwrap_or(&text).to_string(),
                    String::new(),
                );
            }
            "button" => {
                let t = attr_lc(&el, "type");
                if t.is_empty() || t == "submit" {
                    let text = collapse(&el.text().collect::<String>());
                    push(
                        &mut out,
                        ControlKind::Submit,
                        value.clone(),
                        format!("button \"{text}\" {value}"),
                    );
                }
            }
            _ => match attr_lc(&el, "type").as_str() {
                "hidden" => push(&mut out, ControlKind::Hidden, value, String::new()),
                "password" => push(&mut out, ControlKind::Password, value, String::new()),
                "checkbox" | "radio" if el.attr("checked").is_some() => {
                    let kind = if attr_lc(&el, "type") == "radio" {
                        ControlKind::Radio
                    } else {
                        ControlKind::Checkbox
                    };
                    push(
                        &mut out,
                        kind,
                        el.attr("value").unwrap_or("on").to_string(),
                        String::new(),
                    )
                }
                "checkbox" | "radio" | "file" | "image" | "reset" | "button" => {}
                "submit" => {
                    let v = el.attr("value").unwrap_or("Submit").to_string();
                    push(
                        &mut out,
                        ControlKind::Submit,
                        v.clone(),
                        format!("input \"{v}\""),
                    )
                }
                _ => push(&mut out, ControlKind::Text, value, String::new()),
            },
        }
    }
    out
}

fn label_of(doc: &Html, el: &ElementRef) -> Option<String> {
    if let Some(id) = el.attr("id") {
        if let Some(l) = doc
            .select(&sel("label[for]"))
            .find(|l| l.attr("for") == Some(id))
        {
            return Some(collapse(&l.text().collect::<String>()));
        }
    }
    if let Some(l) = el
        .ancestors()
        .filter_map(ElementRef::wrap)
        .find(|a| a.value().name() == "label")
    {
        return Some(collapse(&l.text().collect::<String>()));
    }
    ["aria-label", "placeholder", "title"]
        .iter()
        .find_map(|a| el.attr(a).map(str::to_string))
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

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "11111111-2222-3333-4444-555555555555";

    fn page(form_inner: &str) -> String {
        format!(
            r#"<html><head><title>Conditional Access</title></head><body>
            <form id="search" method="get" action="search.html"><input name="q"></form>
            <form method="post" action="ConditionalAccess.html?o=u" id="intune">
              <h2>Microsoft Intune Integration</h2>
              <input type="hidden" name="session-token" value="tok123456">
              <label><input type="checkbox" name="enabled" value="true" checked> Enable</label>
              <input type="checkbox" name="unused" value="x">
              <select name="cloud"><option value="US">US</option><option value="GLOBAL" selected>Global</option></select>
              <label for="d">Domain name</label><input id="d" name="domain" value="contoso.onmicrosoft.com">
              {form_inner}
              <button type="button" name="test" value="t">Test</button>
            </form></body></html>"#
        )
    }

    fn url() -> Url {
        Url::parse("http://127.0.0.1:9/ConditionalAccess.html?o=u").unwrap()
    }

    fn standard() -> String {
        page(&format!(
            r#"<label for="a">Application ID</label><input id="a" name="applicationId" value="{APP}">
               <input type="password" name="clientSecret" value="********">
               <input type="submit" name="action" value="Save">"#
        ))
    }

    #[test]
    fn collects_what_a_browser_submits_and_changes_only_the_secret() {
        let f = discover(&standard(), &url(), &FormHints::default(), "GET").unwrap();
        assert_eq!(f.application_id(), APP);
        assert_eq!(f.secret_field(), "clientSecret");
        let body = f.body(&SecretString::from("n3w~secret".to_string()));
        assert_eq!(
            body,
            format!("session-token=tok123456&enabled=true&cloud=GLOBAL&domain=contoso.onmicrosoft.com&applicationId={APP}&clientSecret=n3w%7Esecret&action=Save")
        );
        let dbg = format!("{f:?}");
        assert!(
            !dbg.contains("tok123456") && !dbg.contains("********"),
            "{dbg}"
        );
    }

    #[test]
    fn two_password_inputs_without_a_hint_are_refused() {
        let html = page(&format!(
            r#"<input name="applicationId" value="{APP}"><input type="password" name="a"><input type="password" name="b">
               <input type="submit" value="Save">"#
        ));
        let e = discover(&html, &url(), &FormHints::default(), "GET")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2 password inputs") && e.contains("jamf.secret_field"),
            "{e}"
        );
        let hints = FormHints {
            secret_field: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(
            discover(&html, &url(), &hints, "GET")
                .unwrap()
                .secret_field(),
            "b"
        );
    }

    #[test]
    fn application_id_by_guid_or_refusal() {
        let html = page(
            r#"<input name="f1" value="11111111-2222-3333-4444-555555555555"><input type="password" name="s"><input type="submit" value="Save">"#,
        );
        assert_eq!(
            discover(&html, &url(), &FormHints::default(), "GET")
                .unwrap()
                .application_id_field(),
            "f1"
        );
        let html = page(
            r#"<input name="f1" value="not a guid"><input type="password" name="s"><input type="submit" value="Save">"#,
        );
        let e = discover(&html, &url(), &FormHints::default(), "GET")
            .unwrap_err()
            .to_string();
        assert!(e.contains("jamf.application_id_field"), "{e}");
    }

    #[test]
    fn a_page_without_the_form_or_posting_elsewhere_is_refused() {
        let e = discover(
            "<html><title>Dashboard</title><form method=post><input name=x></form></html>",
            &url(),
            &FormHints::default(),
            "GET /x",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("no form") && e.contains("Dashboard"), "{e}");
        // Found by fuzzing: a page whose <title> never closes put the whole page in the error.
        let e = discover(
            &format!("<title>Dashboard {}", "<p>x</p>".repeat(200)),
            &url(),
            &FormHints::default(),
            "GET /x",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("Dashboard") && e.len() < 400, "{e}");
        let html = standard().replace(
            r#"action="ConditionalAccess.html?o=u""#,
            r#"action="https://evil.example/steal""#,
        );
        let e = discover(&html, &url(), &FormHints::default(), "GET")
            .unwrap_err()
            .to_string();
        assert!(e.contains("another server"), "{e}");
    }

    #[test]
    fn save_outcomes() {
        let secret = SecretString::from("n3w~secret".to_string());
        let err = r#"<html><div class="alert error">Unable to connect: n3w~secret refused</div><form method=post></form></html>"#;
        assert_eq!(
            save_outcome(err, APP, &[&secret]),
            SaveOutcome::Failed("Unable to connect: [redacted] refused".into())
        );
        let read = format!("<html><h2>Microsoft Intune Integration</h2><dl><dt>Application ID</dt><dd>{APP}</dd></dl></html>");
        assert_eq!(save_outcome(&read, APP, &[]), SaveOutcome::Saved);
        assert!(
            matches!(save_outcome(&standard(), APP, &[]), SaveOutcome::Unrecognised(t) if t.contains("no recognisable error"))
        );
        let quiet = read.replace("<dl>", r#"<p id="errorText">Could not save</p><dl>"#);
        assert_eq!(
            save_outcome(&quiet, APP, &[]),
            SaveOutcome::Failed("Could not save".into())
        );
        assert!(
            matches!(save_outcome("<html><title>Oops</title></html>", APP, &[]), SaveOutcome::Unrecognised(t) if t == "Oops")
        );
        let login =
            r#"<form method=post><input name=username><input type=password name=password></form>"#;
        assert_eq!(save_outcome(login, APP, &[]), SaveOutcome::LoginPage);
    }

    #[test]
    fn a_form_opened_inside_a_table_keeps_its_controls() {
        let html = format!(
            r#"<html><body><table><form method="post" action="x.html"><tr><td>Microsoft Intune
               <input name="applicationId" value="{APP}"><input type="password" name="s">
               <input type="submit" value="Save"></td></tr></form></table>
               <form method="post" action="y.html"><input name="other" value="1"></form></body></html>"#
        );
        let f = discover(&html, &url(), &FormHints::default(), "GET").unwrap();
        assert_eq!(f.secret_field(), "s");
        assert_eq!(
            f.controls
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["applicationId", "s"]
        );
    }
}
