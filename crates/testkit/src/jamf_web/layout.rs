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
