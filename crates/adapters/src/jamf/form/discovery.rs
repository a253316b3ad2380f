//! Finding the Microsoft Intune integration's form on the page, its submit control, and its
//! client-secret and application-ID controls (by hint, or by kind, name, label or GUID value).

use super::controls::{scan, OverCap};
use super::outcome::is_login_doc;
use super::{attr_lc, title, Control, ControlKind, FormHints, IntuneForm};
use crate::ports::TargetError;
use crate::redact::truncate;
use scraper::Html;
use url::Url;

/// What the edit page turned out to be.
#[derive(Debug)]
pub enum EditPage {
    /// Jamf Pro's login page: the session expired.
    Login,
    /// The Microsoft Intune integration's form.
    Form(IntuneForm),
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
    match read_edit_page(html, page_url, hints, operation)? {
        EditPage::Form(form) => Ok(form),
        EditPage::Login => Err(TargetError::InvalidResponse {
            operation: operation.to_string(),
            message: "Jamf Pro served its login page instead of the settings page".into(),
        }),
    }
}

/// Reads the edit page with one parse: the login page, or the Intune form ([`discover`]). The
/// work is linear in the page, and a page with more forms or controls than the caps
/// ([`super::MAX_FORMS`], [`super::MAX_CONTROLS`]) is refused, naming the cap and `operation`.
pub fn read_edit_page(
    html: &str,
    page_url: &Url,
    hints: &FormHints,
    operation: &str,
) -> Result<EditPage, TargetError> {
    let doc = Html::parse_document(html);
    if is_login_doc(&doc) {
        return Ok(EditPage::Login);
    }
    form_on(&doc, page_url, hints, operation).map(EditPage::Form)
}

fn form_on(
    doc: &Html,
    page_url: &Url,
    hints: &FormHints,
    operation: &str,
) -> Result<IntuneForm, TargetError> {
    let invalid = |message: String| TargetError::InvalidResponse {
        operation: operation.to_string(),
        message,
    };
    let page = scan(doc).map_err(|OverCap { what, limit }| {
        invalid(format!(
            "the page has more than {limit} {what} (the limit for a settings page): refusing to read it"
        ))
    })?;
    tracing::debug!(
        operation,
        forms = page.forms.len(),
        nodes_visited = page.visits,
        "read the page's forms"
    );
    let mut candidates = Vec::new();
    for (form, controls) in page.forms.into_iter().zip(page.controls) {
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
                truncate(&title(doc), 80),
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
