//! The stand-in's web requests: routing, login (with SSO enforcement), and Save with its checks
//! and the save-time test against Entra.

use super::pages::login_page;
use super::{cookie, random, CaSettings, Page, Session, WebUi};
use crate::config::Cloud;
use crate::jamf::JamfSim;
use axum::http::{HeaderMap, Method};
use std::collections::HashMap;

impl WebUi {
    pub(super) async fn route(
        &self,
        sim: &JamfSim,
        method: &Method,
        uri: &axum::http::Uri,
        headers: &HeaderMap,
        body: &str,
    ) -> Page {
        let path = uri.path();
        let query: HashMap<String, String> =
            url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let session = cookie(headers, "JSESSIONID").filter(|s| self.touch(s));
        let page_path = self.state().layout.page_path.clone();
        match (method.as_str(), path) {
            ("POST", "/") => self.login(sim, headers, &query, body),
            ("GET", "/") | ("GET", "/index.html") => {
                if self.state().sso_enforced && !query.contains_key("failover") && session.is_none()
                {
                    return self.to_idp();
                }
                match session {
                    Some(_) => Page::html("<html><head><title>Jamf Pro Dashboard</title></head><body>Dashboard</body></html>".into()),
                    None => Page::html(login_page(None)),
                }
            }
            ("GET", "/logout.html") => {
                if let Some(s) = session {
                    let mut st = self.state();
                    st.sessions.remove(&s);
                    st.counts.logouts += 1;
                }
                Page::redirect("/")
            }
            (m, p) if p == page_path => {
                let Some(session) = session else {
                    return Page::html(login_page(None));
                };
                if m == "POST" {
                    self.save(&session, headers, body).await
                } else if query.get("o").map(String::as_str) == Some("u") {
                    self.edit_page(&session, None, None)
                } else {
                    self.read_page()
                }
            }
            _ => Page {
                status: 404,
                body: "<html><head><title>Not Found</title></head><body>Not Found</body></html>"
                    .into(),
                headers: vec![],
            },
        }
    }

    pub(super) fn to_idp(&self) -> Page {
        let mut st = self.state();
        st.counts.sso_redirects += 1;
        if st.sso_post_binding {
            // SAML's POST binding: a page whose form posts itself to the identity provider.
            return Page::html(
                r#"<html><head><title>Redirecting</title></head><body onload="document.forms[0].submit()">
<form method="post" action="https://idp.example.com/saml2/sso"><input type="hidden" name="SAMLRequest" value="c3RhbmQtaW4="></form>
</body></html>"#
                    .into(),
            );
        }
        Page::redirect("https://idp.example.com/saml2/sso?SAMLRequest=stand-in")
    }

    pub(super) fn login(
        &self,
        sim: &JamfSim,
        headers: &HeaderMap,
        query: &HashMap<String, String>,
        body: &str,
    ) -> Page {
        let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        {
            let st = self.state();
            if st.sso_enforced
                && !query
                    .get("failover")
                    .is_some_and(|k| st.failover_keys.contains(k))
            {
                drop(st);
                return self.to_idp();
            }
        }
        let (Some(user), Some(password)) = (form.get("username"), form.get("password")) else {
            return Page::html(login_page(Some("Enter a username and password")));
        };
        if !sim.user_password_ok(user, password) {
            return Page::html(login_page(Some("Invalid username or password")));
        }
        let id = random();
        let last_seen = self.clock.now();
        let mut st = self.state();
        st.sessions.insert(
            id.clone(),
            Session {
                csrf: random(),
                last_seen,
                rendered: vec![],
            },
        );
        st.counts.logins += 1;
        let mut page = Page::redirect("/index.html");
        page.headers
            .push(("set-cookie", format!("JSESSIONID={id}; Path=/; HttpOnly")));
        if cookie(headers, "APBALANCEID").is_none() {
            page.headers.push((
                "set-cookie",
                format!("APBALANCEID=aws.node-{}; Path=/; HttpOnly", &random()[..6]),
            ));
        }
        page
    }

    /// The edit form with `values` (the stored settings, or what a failed POST submitted).
    pub(super) async fn save(&self, session: &str, headers: &HeaderMap, body: &str) -> Page {
        let content_type = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let multipart = self.state().layout.multipart;
        let pairs = match (
            multipart,
            content_type.split(';').next().unwrap_or("").trim(),
        ) {
            (false, "application/x-www-form-urlencoded") => Some(
                url::form_urlencoded::parse(body.as_bytes())
                    .into_owned()
                    .collect(),
            ),
            (true, "multipart/form-data") => parse_multipart(content_type, body),
            _ => None,
        };
        let Some(pairs) = pairs else {
            return Page {
                status: 400,
                body: "<html><head><title>Bad Request</title></head><body><div class=\"error\">The form was sent in another encoding than it declares.</div></body></html>".into(),
                headers: vec![],
            };
        };
        let pairs: Vec<(String, String)> = pairs;
        let (layout, expected, stored) = {
            let mut st = self.state();
            st.counts.save_posts += 1;
            if st.expire_before_save > 0 {
                st.expire_before_save -= 1;
                st.sessions.clear();
                return Page::html(login_page(None));
            }
            let sess = st.sessions.get(session).expect("checked by route");
            let token_ok = pairs
                .iter()
                .any(|(k, v)| k == "session-token" && *v == sess.csrf);
            if !token_ok {
                return Page {
                    status: 403,
                    body: "<html><head><title>Forbidden</title></head><body><div class=\"error\">Invalid session token</div></body></html>".into(),
                    headers: vec![],
                };
            }
            (
                st.layout.clone(),
                sess.rendered.clone(),
                st.settings.clone(),
            )
        };
        let Some(stored) = stored else {
            return Page::html("<html><body>Not configured</body></html>".into());
        };
        // Every pair but the secret must come back exactly as the page rendered it.
        let mut sent: Vec<(String, String)> = pairs
            .iter()
            .filter(|(k, _)| *k != layout.secret_name)
            .cloned()
            .collect();
        let mut want = expected.clone();
        sent.sort();
        want.sort();
        if sent != want {
            return self.edit_page(
                session,
                None,
                Some("The form was changed since it was displayed. Reload the page and try again."),
            );
        }
        let get = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        let Some(secret) = get(&layout.secret_name).filter(|s| !s.is_empty()) else {
            return self.edit_page(session, None, Some("Client Secret is required."));
        };
        let cloud = get(&layout.cloud_name)
            .and_then(|c| c.to_lowercase().parse::<Cloud>().ok())
            .unwrap_or(stored.cloud);
        let next = CaSettings {
            enabled: get(&layout.enabled_name).is_some(),
            cloud,
            domain: get(&layout.domain_name).unwrap_or_default(),
            application_id: get(&layout.application_id_name).unwrap_or_default(),
            secret: secret.clone(),
        };
        let forced = {
            let mut st = self.state();
            let f = st.fail_saves > 0;
            st.fail_saves = st.fail_saves.saturating_sub(1);
            f
        };
        let tested = if forced {
            Err("Microsoft Intune did not respond in time".to_string())
        } else if next.enabled {
            self.secret_works(&next).await
        } else {
            Ok(())
        };
        if let Err(reason) = tested {
            let mut message = format!("Unable to connect to Microsoft Intune. Verify the Application ID and Client Secret. {reason}");
            if layout.echo_secret_in_errors {
                message = format!("{message} (client secret {secret})");
            }
            return self.edit_page(session, Some(next), Some(&message));
        }
        let mut st = self.state();
        st.counts.saves += 1;
        let changed = st
            .settings
            .as_ref()
            .map(|s| s.secret != next.secret)
            .unwrap_or(true);
        st.injected = if changed {
            std::mem::take(&mut st.notify_after_change)
        } else {
            vec![]
        };
        st.settings = Some(next);
        Page::redirect(&format!("{}?o=r", layout.page_path))
    }
}

/// The text fields of a `multipart/form-data` body, in order; `None` when it is malformed.
fn parse_multipart(content_type: &str, body: &str) -> Option<Vec<(String, String)>> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}");
    let mut parts = body.split(delimiter.as_str());
    if !parts.next()?.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for part in parts {
        if part.starts_with("--") {
            return Some(out);
        }
        let part = part.strip_prefix("\r\n")?.strip_suffix("\r\n")?;
        let (head, value) = part.split_once("\r\n\r\n")?;
        let name = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name=\""))?
            .strip_suffix('"')?;
        out.push((name.replace("%22", "\""), value.to_string()));
    }
    None
}
