//! The stand-in's HTML: the login page, the Conditional Access edit form and its read view.

use super::{CaSettings, Page, SubmitControl, WebUi};
use crate::config::Cloud;

pub(super) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn login_page(error: Option<&str>) -> String {
    format!(
        r#"<!DOCTYPE html><html><head><title>Jamf Pro Login</title></head><body>
<div class="login">{}<form method="post" action="" name="loginForm">
<label for="username">Username</label><input type="text" id="username" name="username">
<label for="password">Password</label><input type="password" id="password" name="password">
<input type="submit" value="Log In"></form></div></body></html>"#,
        error
            .map(|e| format!(r#"<div class="error">{}</div>"#, esc(e)))
            .unwrap_or_default()
    )
}

impl WebUi {
    pub(super) fn edit_page(
        &self,
        session: &str,
        values: Option<CaSettings>,
        error: Option<&str>,
    ) -> Page {
        let mut st = self.state();
        let layout = st.layout.clone();
        let Some(stored) = st.settings.clone() else {
            return Page::html("<html><head><title>Conditional Access</title></head><body>Not configured</body></html>".into());
        };
        if layout.no_form {
            return Page::html(
                "<html><head><title>Conditional Access - Jamf Pro</title></head><body><h2>Microsoft Intune Integration</h2>\
                 <p>This server uses Device Compliance; there is nothing to edit here.</p></body></html>"
                    .into(),
            );
        }
        let (s, echoed_secret) = match &values {
            Some(v) => (v.clone(), Some(v.secret.clone())),
            None => (stored, None),
        };
        let csrf = st
            .sessions
            .get(session)
            .map(|x| x.csrf.clone())
            .unwrap_or_default();
        let id = |n: &str| format!("{}{n}", layout.id_prefix);
        let label = |n: &str, text: &str| {
            if layout.labels {
                format!(r#"<label for="{}">{text}</label>"#, id(n))
            } else {
                String::new()
            }
        };
        let mut rendered = vec![("session-token".to_string(), csrf.clone())];
        let mut visible: Vec<String> = Vec::new();
        let checked = if s.enabled { " checked" } else { "" };
        visible.push(format!(
            r#"<div>{}<input type="checkbox" id="{}" name="{}" value="true"{checked}></div>"#,
            label(&layout.enabled_name, "Enable Microsoft Intune Integration"),
            id(&layout.enabled_name),
            layout.enabled_name
        ));
        let options: String = [Cloud::Global, Cloud::Usgov, Cloud::UsgovDod, Cloud::China]
            .iter()
            .map(|c| {
                format!(
                    r#"<option value="{}"{}>{}</option>"#,
                    c.as_str().to_uppercase(),
                    if *c == s.cloud { " selected" } else { "" },
                    c.as_str()
                )
            })
            .collect();
        visible.push(format!(
            r#"<div>{}<select id="{}" name="{}">{options}</select></div>"#,
            label(&layout.cloud_name, "Sovereign Cloud"),
            id(&layout.cloud_name),
            layout.cloud_name
        ));
        let input = |kind: &str, name: &str, text: &str, value: &str| {
            format!(
                r#"<div>{}<input type="{kind}" id="{}" name="{name}" value="{}" autocomplete="off"></div>"#,
                label(name, text),
                id(name),
                esc(value)
            )
        };
        visible.push(input("text", &layout.domain_name, "Domain Name", &s.domain));
        visible.push(input(
            "text",
            &layout.application_id_name,
            "Application ID",
            &s.application_id,
        ));
        // Jamf Pro never shows the stored secret; a re-rendered failed POST shows what was sent.
        let shown = echoed_secret.as_deref().unwrap_or("********");
        visible.push(input(
            "password",
            &layout.secret_name,
            "Client Secret",
            shown,
        ));
        if s.enabled {
            rendered.push((layout.enabled_name.clone(), "true".into()));
        }
        rendered.push((layout.cloud_name.clone(), s.cloud.as_str().to_uppercase()));
        rendered.push((layout.domain_name.clone(), s.domain.clone()));
        rendered.push((layout.application_id_name.clone(), s.application_id.clone()));
        if layout.second_password {
            visible.push(r#"<div><label for="proxyPassword">Proxy password</label><input type="password" id="proxyPassword" name="proxyPassword" value=""></div>"#.into());
            rendered.push(("proxyPassword".into(), String::new()));
        }
        let mut hidden = format!(r#"<input type="hidden" name="session-token" value="{csrf}">"#);
        if layout.token_fields {
            for (name, value) in super::TOKEN_FIELDS {
                hidden += &format!(r#"<input type="hidden" name="{name}" value="{value}">"#);
                rendered.push((name.into(), value.into()));
            }
        }
        if layout.extra_controls {
            hidden += r#"<input type="hidden" name="formVersion" value="3"><input type="hidden" name="id" value="1">"#;
            rendered.extend([
                ("formVersion".into(), "3".into()),
                ("id".into(), "1".into()),
            ]);
            visible.push(r#"<div><label for="displayName">Display name</label><input id="displayName" name="displayName" value="Contoso &amp; Co"></div>"#.into());
            visible.push(r#"<div><input type="radio" name="syncMode" value="delta"><input type="radio" name="syncMode" value="full" checked></div>"#.into());
            visible.push(r#"<div><select name="logLevel"><option value="info">info</option><option value="debug" selected>debug</option></select></div>"#.into());
            visible.push("<div><textarea name=\"notes\">\nmanaged by IT</textarea></div>".into());
            visible.push(r#"<div><input type="checkbox" name="beta" value="true"><input name="legacy" value="x" disabled><button type="button" name="test">Test</button></div>"#.into());
            rendered.extend([
                ("displayName".into(), "Contoso & Co".into()),
                ("syncMode".into(), "full".into()),
                ("logLevel".into(), "debug".into()),
                ("notes".into(), "managed by IT".into()),
            ]);
        }
        if layout.reversed {
            visible.reverse();
        }
        let submit = match &layout.submit {
            SubmitControl::Input { name } => {
                rendered.push((name.clone(), "Save".into()));
                format!(r#"<input type="submit" name="{name}" value="Save">"#)
            }
            SubmitControl::Button { name, value } => {
                rendered.push((name.clone(), value.clone()));
                format!(
                    r#"<button type="submit" name="{name}" value="{value}"><span>Save</span></button>"#
                )
            }
            SubmitControl::CancelAndSave { name } => {
                rendered.push((name.clone(), "Save".into()));
                format!(
                    r#"<input type="submit" name="{name}" value="Cancel"><input type="submit" name="{name}" value="Save">"#
                )
            }
            SubmitControl::Nameless => r#"<input type="submit" value="Save">"#.to_string(),
        };
        if let Some(sess) = st.sessions.get_mut(session) {
            sess.rendered = rendered;
        }
        let error = error
            .map(|e| match layout.quiet_errors {
                true => format!("<p>{}</p>", esc(e)),
                false => format!(r#"<div class="alert alert-danger error">{}</div>"#, esc(e)),
            })
            .unwrap_or_default();
        let other_form = if layout.extra_controls {
            r#"<form method="get" action="search.html"><input name="query" value=""></form>"#
        } else {
            ""
        };
        let hostile = super::hostile_forms(layout.hostile_bytes);
        drop(st);
        Page::html(format!(
            r#"<!DOCTYPE html><html><head><title>Conditional Access - Jamf Pro</title></head><body>{hostile}{other_form}
<h1>Conditional Access</h1>{error}
<form method="post" action="{path}?o=u" id="{prefix}form"{enctype}>{hidden}
<h2>Microsoft Intune Integration</h2>
{visible}
<div class="buttons">{submit}</div></form></body></html>"#,
            path = layout.page_path,
            prefix = layout.id_prefix,
            enctype = if layout.multipart {
                r#" enctype="multipart/form-data""#
            } else {
                ""
            },
            visible = visible.join("\n"),
        ))
    }

    pub(super) fn read_page(&self) -> Page {
        let st = self.state();
        let Some(s) = st.settings.clone() else {
            return Page::html("<html><head><title>Conditional Access</title></head><body>Not configured</body></html>".into());
        };
        Page::html(format!(
            r#"<!DOCTYPE html><html><head><title>Conditional Access - Jamf Pro</title></head><body>
<h1>Conditional Access</h1><h2>Microsoft Intune Integration</h2>
<dl><dt>Enabled</dt><dd>{}</dd><dt>Sovereign Cloud</dt><dd>{}</dd><dt>Domain Name</dt><dd>{}</dd>
<dt>Application ID</dt><dd>{}</dd><dt>Client Secret</dt><dd>********</dd></dl>
<a href="{}?o=u">Edit</a></body></html>"#,
            s.enabled,
            s.cloud.as_str(),
            esc(&s.domain),
            esc(&s.application_id),
            st.layout.page_path
        ))
    }
}
