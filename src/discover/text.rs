//! What `discover` prints: the discovery for a person, and the commands it suggests (`init`,
//! `az ad app owner add`), with every value read from a server quoted as one shell word.

use super::{AppFindings, DiscoverRequest, Discovery};
use chrono::{DateTime, Utc};
use rotator_engine::config::{Cloud, Settings};
use rotator_engine::document::TargetKind;
use rotator_engine::ports::AppRef;

/// The `az` command (as scripts/setup-azure runs it) that makes the rotator's service principal
/// an owner of the app.
pub fn owner_command(app_client_id: &str, rotator_client_id: &str) -> String {
    format!(
        "az ad app owner add --id {} --owner-object-id \"$(az ad sp show --id {} --query id -o tsv)\"",
        shell_word(app_client_id),
        shell_word(rotator_client_id)
    )
}

/// The `init` command that makes the integration a target; the client secret comes from the
/// environment (`JER_CLIENT_SECRET`), never a flag.
pub(super) fn init_command(
    settings: &Settings,
    req: &DiscoverRequest,
    kind: TargetKind,
    credentials_id: &str,
    app: &AppRef,
) -> String {
    let host = req.jamf_url.host_str().unwrap_or("jamf");
    let mut words = vec![
        "jamf-entra-rotator init --secret-id".to_string(),
        shell_word(&format!("jamf-entra-rotator/{host}/{}", kind.as_str())),
        "--jamf-url".into(),
        shell_word(req.jamf_url.as_str()),
        "--target".into(),
        kind.as_str().into(),
        "--jamf-credentials-secret-id".into(),
        shell_word(credentials_id),
        "--tenant-id".into(),
        shell_word(&app.tenant_id),
        "--client-id".into(),
        shell_word(&app.client_id),
    ];
    if req.cloud != Cloud::Global {
        words.extend(["--cloud".into(), req.cloud.as_str().into()]);
    }
    if kind == TargetKind::SmtpGraph && settings.smtp_test_recipient.is_none() {
        words.extend(["--test-recipient".into(), "RECIPIENT@EXAMPLE.COM".into()]);
    }
    words.join(" ")
}

/// `s` as one POSIX shell word: as is when it holds only safe characters, else single-quoted
/// (values read from a server must not become shell syntax in a printed command).
fn shell_word(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.:/@%+=,".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The discovery for a person.
pub fn describe(d: &Discovery) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "Jamf Pro {} (read only: GET requests besides signing in and out)\n",
        d.jamf_url
    );
    for i in &d.integrations {
        let _ = writeln!(out, "\n{} ({})", i.target, i.state);
        let _ = writeln!(out, "  Jamf Pro      {}", i.detail);
        if i.state != "uses-entra-app" {
            continue;
        }
        let _ = writeln!(
            out,
            "  app           client id {} in tenant {}{}",
            i.client_id.as_deref().unwrap_or("?"),
            i.tenant_id.as_deref().unwrap_or("?"),
            if i.enabled == Some(false) {
                " (integration disabled)"
            } else {
                ""
            }
        );
        if let Some(app) = &i.app {
            describe_app(&mut out, app);
        }
        let _ = writeln!(out, "  Jamf holds    {}", i.jamf_holds);
        let _ = writeln!(
            out,
            "  managed       {}{}",
            i.managed,
            if i.managed_by.is_empty() {
                String::new()
            } else {
                format!(" (by {})", i.managed_by.join(", "))
            }
        );
        if let Some(advice) = i.advice {
            let _ = writeln!(out, "  LEGACY        {advice}");
        }
        if let Some(cmd) = &i.init_command {
            let _ = writeln!(
                out,
                "  to manage it  with JER_CLIENT_SECRET set to the secret Jamf Pro uses for it:\n    {cmd}"
            );
        }
    }
    let _ = writeln!(out, "\nmanaged targets: {}", d.managed_targets);
    let _ = writeln!(out, "sign-in with the apps' secrets: {}", d.secret_sign_in);
    let _ = writeln!(out, "nothing was changed");
    out
}

fn describe_app(out: &mut String, app: &AppFindings) {
    use std::fmt::Write;
    if !app.visible {
        let _ = writeln!(
            out,
            "  Entra         CANNOT SEE IT: {}",
            app.error.as_deref().unwrap_or("?")
        );
        if let Some(cmd) = &app.owner_command {
            let _ = writeln!(out, "  to fix it     {cmd}");
        }
        return;
    }
    let _ = writeln!(
        out,
        "  Entra         \"{}\" (object id {}), {} client secret(s)",
        app.display_name.as_deref().unwrap_or(""),
        app.object_id.as_deref().unwrap_or("?"),
        app.credentials.len()
    );
    let day = |t: Option<DateTime<Utc>>| t.map_or("-".into(), |t| t.format("%Y-%m-%d").to_string());
    for c in &app.credentials {
        let _ = writeln!(
            out,
            "    {}  {:<36}  {} .. {}  {:>5} days  hint {:<3}{}",
            c.key_id,
            c.display_name.as_deref().unwrap_or(""),
            day(c.start),
            day(c.end),
            c.days_left.map_or("?".into(), |d| d.to_string()),
            c.hint.as_deref().unwrap_or("-"),
            match c.held_by_jamf {
                Some(true) => "  <- Jamf Pro holds this one",
                _ => "",
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_from_a_server_stay_one_shell_word() {
        assert_eq!(
            shell_word("contoso.onmicrosoft.com"),
            "contoso.onmicrosoft.com"
        );
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("x;rm -rf /"), "'x;rm -rf /'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word("$(id)"), "'$(id)'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn the_owner_command_names_the_app_and_the_rotators_service_principal() {
        assert_eq!(
            owner_command("app-1", "rot-2"),
            "az ad app owner add --id app-1 --owner-object-id \"$(az ad sp show --id rot-2 --query id -o tsv)\""
        );
    }
}
