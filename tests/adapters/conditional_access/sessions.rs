//! Logging in to the Jamf Pro web UI and keeping the session: SSO (redirect and SAML POST
//! binding) through the failover URL, a session that expires mid-flow, a refused login, and the
//! stand-in's own session rules (the page's session token, idle sessions ended by the clock).

use super::harness::{
    any_request, assert_failed_saying, assert_old_secret_kept, assert_refused_before_any_change,
    assert_rotated, assert_safe, ca_world, rotate,
};
use crate::common::TestWorld;
use rotator_testkit::jamf_web::Layout;
use secrecy::ExposeSecret;

/// A world with the default layout whose web UI enforces SSO, with the SAML POST binding when
/// `post_binding`, rotated; checked with `assert_rotated`.
async fn rotated_behind_sso(post_binding: bool) -> TestWorld {
    let w = ca_world(Layout::default()).await;
    w.jamf.web().set_sso_enforced(true);
    if post_binding {
        w.jamf.web().set_sso_post_binding(true);
    }
    let r = rotate(&w).await;
    assert_rotated(&w, &r).await;
    w
}

/// A browser (cookies kept, redirects not followed) logged in to `w`'s web UI as the rotator's
/// account, and the URL of the Conditional Access page.
async fn logged_in_browser(w: &TestWorld) -> (reqwest::Client, url::Url) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = [
        ("username", "svc-entra-rotator"),
        ("password", w.secrets[2].expose_secret()),
    ];
    let status = http
        .post(w.jamf.url())
        .form(&login)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 302);
    let page_url = w.jamf.url().join("ConditionalAccess.html?o=u").unwrap();
    (http, page_url)
}

/// The page at `url`, as text.
async fn page(http: &reqwest::Client, url: &url::Url) -> String {
    http.get(url.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn sso_enforced_logs_in_through_the_failover_url() {
    let w = rotated_behind_sso(false).await;

    let c = w.jamf.web().counts();
    assert!(c.sso_redirects >= 1 && c.logins >= 1, "{c:?}");
    assert!(any_request(&w, |r| r.method == "GET"
        && r.path == "/api/v1/sso/failover"));
    assert!(any_request(&w, |r| r.method == "POST"
        && r.path.starts_with("/?failover=")
        && r.status == 302));
}

#[tokio::test]
async fn sso_with_the_saml_post_binding_also_uses_the_failover_url() {
    let w = rotated_behind_sso(true).await;

    assert!(w.jamf.web().counts().sso_redirects >= 1);
    assert!(any_request(&w, |q| q.method == "POST"
        && q.path.starts_with("/?failover=")));
}

#[tokio::test]
async fn a_session_expiring_mid_flow_is_logged_in_again_once() {
    let w = ca_world(Layout::default()).await;
    w.jamf.web().expire_sessions_before_next_saves(1);

    let r = rotate(&w).await;

    assert_rotated(&w, &r).await;
    let c = w.jamf.web().counts();
    assert_eq!(
        c.save_posts, 2,
        "the save was repeated after logging in again"
    );
    assert_eq!(c.saves, 1);
}

#[tokio::test]
async fn a_session_that_keeps_expiring_fails_without_a_change() {
    let w = ca_world(Layout::default()).await;
    w.jamf.web().expire_sessions_before_next_saves(10);

    let r = rotate(&w).await;

    assert_failed_saying(&r, "login page");
    assert_old_secret_kept(&w);
    assert_safe(&w, &r).await;
}

#[tokio::test]
async fn a_refused_web_login_fails_clearly_before_any_change() {
    let w = ca_world(Layout::default()).await;
    let wrong =
        serde_json::json!({"username": "svc-entra-rotator", "password": "not-the-password", "jamf_url": w.jamf.url().as_str()})
            .to_string();
    w.store
        .put_current(&w.jamf_credentials_id, &secrecy::SecretString::from(wrong))
        .await
        .unwrap();

    let r = rotate(&w).await;

    assert_refused_before_any_change(&w, &r, "refused the login of 'svc-entra-rotator'").await;
    assert!(!r
        .error
        .as_deref()
        .unwrap_or("")
        .contains("not-the-password"));
}

#[tokio::test]
async fn the_stand_in_refuses_a_save_without_the_pages_session_token() {
    let w = ca_world(Layout::default()).await;
    let (http, page_url) = logged_in_browser(&w).await;
    let form = page(&http, &page_url).await;
    assert!(form.contains(r#"name="session-token""#), "{form}");
    let body = format!(
        "session-token=forged&intuneEnabled=true&sovereignCloud=GLOBAL&domainName=contoso.onmicrosoft.com\
         &applicationId={}&clientSecret=other&action=Save",
        w.app.client_id
    );
    let post = http
        .post(page_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    assert_eq!(post.send().await.unwrap().status(), 403);
    assert_eq!(w.jamf.web().counts().saves, 0);
    assert_old_secret_kept(&w);
}

#[tokio::test]
async fn the_stand_in_ends_idle_web_sessions_by_the_injected_clock() {
    let w = ca_world(Layout::default()).await;
    let (http, page_url) = logged_in_browser(&w).await;
    let form = page(&http, &page_url).await;
    assert!(form.contains("Microsoft Intune Integration"), "{form}");
    w.clock.advance(std::time::Duration::from_secs(31 * 60));
    let login = page(&http, &page_url).await;
    assert!(login.contains("Jamf Pro Login"), "{login}");
    assert_eq!(w.jamf.web().sessions(), 0);
}
