//! Unit tests: discovering the form (hints, refusals, a form opened inside a table) and reading
//! the page after Save.

use super::*;
use secrecy::SecretString;

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
