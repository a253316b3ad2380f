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

/// The standard page after about `bytes` of [`rotator_testkit::jamf_web::hostile_forms`].
fn hostile_page(bytes: usize) -> String {
    format!(
        "{}{}",
        rotator_testkit::jamf_web::hostile_forms(bytes),
        standard()
    )
}

/// The hostile page's cost: `discover` on [`hostile_page`]s of 16 KiB to 2 MiB, timed and
/// printed. Run with
/// `cargo test -p rotator-adapters --lib hostile_page_benchmark -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark: prints figures, asserts nothing about time"]
fn hostile_page_benchmark() {
    for kib in [16, 64, 256, 2048] {
        let html = hostile_page(kib * 1024);
        let started = std::time::Instant::now();
        let result = discover(&html, &url(), &FormHints::default(), "GET /bench");
        println!(
            "hostile page {kib} KiB ({} bytes): discover took {:.3} s: {}",
            html.len(),
            started.elapsed().as_secs_f64(),
            match &result {
                Ok(f) => format!("found the form ({} controls)", f.controls.len()),
                Err(e) => format!("refused: {e}"),
            }
        );
    }
}

/// Nodes of a parsed page (what linear work is measured against).
fn nodes(html: &str) -> usize {
    scraper::Html::parse_document(html).tree.nodes().count()
}

/// The 2 MiB hostile page (thousands of small forms, controls and labels) is refused by the
/// form cap, naming the cap and the page and quoting nothing of it.
#[test]
fn a_hostile_page_over_the_caps_is_refused_naming_the_cap() {
    let html = hostile_page(2 * 1024 * 1024);
    let e = discover(
        &html,
        &url(),
        &FormHints::default(),
        "GET /ConditionalAccess.html",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("GET /ConditionalAccess.html")
            && e.contains(&format!("more than {MAX_FORMS} forms")),
        "{e}"
    );
    assert!(!e.contains("L1") && e.len() < 300, "{e}");
    // The controls cap: one form with more controls than allowed.
    let many = "<input name=x>".repeat(MAX_CONTROLS + 1);
    let e = discover(&page(&many), &url(), &FormHints::default(), "GET /p")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&format!("more than {MAX_CONTROLS} controls")),
        "{e}"
    );
}

/// A page just within the caps, built to make discovery quadratic (every form's controls named
/// by labels elsewhere, a label wrapping every control, deep nesting around the controls), costs
/// work linear in its size: the walk's node visits stay within a small multiple of its nodes.
#[test]
fn a_hostile_page_within_the_caps_costs_linear_work() {
    let forms = rotator_testkit::jamf_web::hostile_forms(60 * 140);
    let deep = format!(
        "{}<label>{}{}</label>{}",
        "<div>".repeat(5_000),
        "<span>label text</span>".repeat(2_000),
        "<input name=w type=hidden>".repeat(MAX_CONTROLS - 200),
        "</div>".repeat(5_000)
    );
    let html = format!("{forms}{deep}");
    let doc = scraper::Html::parse_document(&html);
    let scan = super::controls::scan(&doc).expect("within the caps");
    assert!(scan.forms.len() <= MAX_FORMS);
    let total: usize = scan.controls.iter().map(Vec::len).sum();
    assert!(total > 100, "{total} controls read");
    let n = nodes(&html);
    assert!(
        scan.visits <= 2 * n,
        "{} visits for {n} nodes: not linear",
        scan.visits
    );
}

#[test]
fn token_like_hidden_values_are_redacted_whatever_their_name() {
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlMTIz";
    let html = page(&format!(
        r#"<input type="hidden" name="csrf" value="plain1">
           <input type="hidden" name="_xsrf" value="plain2">
           <input type="hidden" name="nonce" value="plain3">
           <input type="hidden" name="formVersion" value="{jwt}">
           <input type="hidden" name="state" value="9f86d081884c7d659a2feaa0c55ad015">
           <input type="hidden" name="id" value="1">
           <label for="a">Application ID</label><input id="a" name="applicationId" value="{APP}">
           <input type="password" name="clientSecret" value="********">
           <input type="submit" name="action" value="Save">"#
    ));
    let f = discover(&html, &url(), &FormHints::default(), "GET").unwrap();
    let shown = |name: &str| {
        f.controls
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .shown_value()
    };
    for name in ["csrf", "_xsrf", "nonce", "formVersion", "state"] {
        assert_eq!(shown(name), crate::redact::REDACTED, "{name}");
    }
    assert_eq!(shown("id"), "1");
    assert_eq!(shown("applicationId"), APP);
    let dbg = format!("{f:?}");
    for v in [
        "plain1",
        "plain2",
        "plain3",
        jwt,
        "9f86d081884c7d659a2feaa0c55ad015",
    ] {
        assert!(!dbg.contains(v), "{dbg}");
    }
}

/// A control's `form` attribute may name a form that comes later in the page.
#[test]
fn a_form_attribute_may_name_a_later_form() {
    let html = format!(
        r#"<html><body><input form="intune" name="applicationId" value="{APP}">
           <form id="intune" method="post" action="x.html"><h2>Microsoft Intune</h2>
           <input type="password" name="s"><input type="submit" value="Save"></form>
           <input form="intune" name="late" value="1"><input form="nowhere" name="lost"></body></html>"#
    );
    let f = discover(&html, &url(), &FormHints::default(), "GET").unwrap();
    let names: Vec<&str> = f.controls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["applicationId", "s", "late"]);
}
