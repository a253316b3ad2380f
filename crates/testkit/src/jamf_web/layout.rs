//! How the stand-in's Conditional Access edit page is laid out: names, ids, labels, order, extra
//! controls, the submit control, and pages the target must refuse.

/// The submit control the edit page renders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitControl {
    /// `<input type="submit" name=.. value="Save">`.
    Input { name: String },
    /// `<button type="submit" name=.. value=..>Save</button>`.
    Button { name: String, value: String },
    /// A Cancel submit before the Save submit, both `name`.
    CancelAndSave { name: String },
    /// A nameless `<input type="submit" value="Save">`.
    Nameless,
}

/// How the edit page is laid out. The target must handle every variant with no code change.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Page path (with the leading `/`).
    pub page_path: String,
    /// Name of the enable checkbox.
    pub enabled_name: String,
    /// Name of the sovereign cloud select.
    pub cloud_name: String,
    /// Name of the domain input.
    pub domain_name: String,
    /// Name of the application-ID input.
    pub application_id_name: String,
    /// Name of the client-secret password input.
    pub secret_name: String,
    /// Prefix of every control's `id`.
    pub id_prefix: String,
    /// Whether `<label for>` elements name the fields.
    pub labels: bool,
    /// Extra controls: hidden, text, radio group, select, textarea, an unchecked checkbox, a
    /// disabled input, a Test button, and another form on the page.
    pub extra_controls: bool,
    /// Visible controls in reverse order.
    pub reversed: bool,
    /// The submit control.
    pub submit: SubmitControl,
    /// A second password input (a proxy password) in the form.
    pub second_password: bool,
    /// The page has no Intune form at all (integration managed elsewhere).
    pub no_form: bool,
    /// The save-time error text quotes the submitted secret (as a careless page might).
    pub echo_secret_in_errors: bool,
    /// Save errors are plain text without any error markup (an unrecognisable answer).
    pub quiet_errors: bool,
    /// The form says `enctype="multipart/form-data"` (and Save accepts only that).
    pub multipart: bool,
    /// Hidden inputs named `csrf`, `_xsrf` and `nonce`, and one with an innocent name (`state`)
    /// holding a token-shaped value ([`TOKEN_FIELDS`]): each must come back as rendered.
    pub token_fields: bool,
    /// Bytes of [`hostile_forms`] put before the edit form (0: none): a page built to make form
    /// discovery slow.
    pub hostile_bytes: usize,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            page_path: "/ConditionalAccess.html".into(),
            enabled_name: "intuneEnabled".into(),
            cloud_name: "sovereignCloud".into(),
            domain_name: "domainName".into(),
            application_id_name: "applicationId".into(),
            secret_name: "clientSecret".into(),
            id_prefix: "ca-".into(),
            labels: true,
            extra_controls: false,
            reversed: false,
            submit: SubmitControl::Input {
                name: "action".into(),
            },
            second_password: false,
            no_form: false,
            echo_secret_in_errors: false,
            quiet_errors: false,
            multipart: false,
            token_fields: false,
            hostile_bytes: 0,
        }
    }
}

impl Layout {
    /// Opaque names and ids, no labels: the application ID is recognisable only as the one GUID.
    pub fn opaque_names() -> Self {
        Self {
            enabled_name: "f_1".into(),
            cloud_name: "f_2".into(),
            domain_name: "f_3".into(),
            application_id_name: "f_4".into(),
            secret_name: "f_5".into(),
            id_prefix: "x".into(),
            labels: false,
            ..Self::default()
        }
    }

    /// Extra controls, reverse order, a `<button>` submit.
    pub fn extra_reordered_button() -> Self {
        Self {
            extra_controls: true,
            reversed: true,
            submit: SubmitControl::Button {
                name: "saveButton".into(),
                value: "save".into(),
            },
            application_id_name: "azure_client_id".into(),
            ..Self::default()
        }
    }

    /// Cancel and Save submits, snake-case names, another page path.
    pub fn cancel_and_save() -> Self {
        Self {
            page_path: "/legacy/ConditionalAccess.html".into(),
            enabled_name: "enable_intune".into(),
            cloud_name: "location".into(),
            domain_name: "tenant_domain".into(),
            application_id_name: "app_id".into(),
            secret_name: "app_secret".into(),
            submit: SubmitControl::CancelAndSave {
                name: "action".into(),
            },
            extra_controls: true,
            ..Self::default()
        }
    }
}

/// The hidden inputs [`Layout::token_fields`] adds: name and rendered value.
pub const TOKEN_FIELDS: [(&str, &str); 4] = [
    ("csrf", "csrf-plain-value"),
    ("_xsrf", "xsrf-plain-value"),
    ("nonce", "nonce-plain-value"),
    (
        "state",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW1mIn0.c2lnbmF0dXJlLTQy",
    ),
];

/// About `bytes` of HTML built to make form discovery slow: many small forms, each with a few
/// controls, `<label for>` elements naming controls of other forms, and labels wrapping controls.
/// Every form has a password input, so each is a candidate for the client-secret form.
pub fn hostile_forms(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 256);
    let mut i = 0usize;
    while out.len() < bytes {
        out.push_str(&format!(
            r#"<form id="f{i}" method="post"><label for="c{j}">L{i}</label><input id="c{i}" name="n{i}" value="v"><label>W<input type="password" name="p{i}"></label></form>"#,
            j = i + 1
        ));
        i += 1;
    }
    out
}
