//! Form discovery: the Conditional Access page as Jamf Pro serves it, and the layouts the
//! rotator must still find its way through (opaque names, extra and reordered controls, button
//! submits, another page path, a multipart form, a second password input named in the document).

use super::harness::{
    any_request, assert_rotated, ca_world, header, layout, put_doc, request, rotate, rotated,
};
use rotator_testkit::jamf_web::{Layout, SubmitControl};
use secrecy::ExposeSecret;

#[tokio::test]
async fn rotates_the_intune_secret_through_the_settings_page() {
    let w = rotated(Layout::default()).await;

    let c = w.jamf.web().counts();
    assert_eq!(c.saves, 1, "one save: the new secret");
    assert_eq!(c.logins, c.logouts);
    assert!(
        any_request(&w, |q| q.path == "/api/v1/auth/invalidate-token"
            && q.status == 204),
        "the API token is ended too"
    );
    let page_get = request(&w, |q| {
        q.method == "GET" && q.path.starts_with("/ConditionalAccess")
    });
    let cookies = header(&page_get, "cookie");
    assert!(
        cookies.contains("JSESSIONID=") && cookies.contains("APBALANCEID="),
        "session and load-balancer cookies: {cookies}"
    );
    // The new secret went to Jamf Pro in the settings POST only; the password in logins only.
    let new_secret = w.jamf.web().secret().unwrap();
    let password = w.secrets[2].expose_secret();
    for req in w.jamf.requests() {
        if req.body.contains(&new_secret) {
            assert!(
                req.method == "POST" && req.path.starts_with("/ConditionalAccess.html"),
                "{} {}",
                req.method,
                req.path
            );
        }
        if req.body.contains(password) {
            assert!(
                req.method == "POST" && req.path == "/",
                "{} {}",
                req.method,
                req.path
            );
        }
    }
}

#[tokio::test]
async fn opaque_names_without_labels_are_handled() {
    rotated(Layout::opaque_names()).await;
}

#[tokio::test]
async fn extra_controls_reverse_order_and_a_button_submit_are_handled() {
    rotated(Layout::extra_reordered_button()).await;
}

#[tokio::test]
async fn cancel_and_save_submits_on_another_page_path_are_handled() {
    let w = rotated(Layout::cancel_and_save()).await;
    let post = request(&w, |r| r.method == "POST" && r.path.starts_with("/legacy/"));
    assert!(
        post.body.contains("action=Save") && !post.body.contains("Cancel"),
        "{}",
        post.body
    );
}

#[tokio::test]
async fn a_nameless_save_button_is_handled() {
    rotated(layout(|l| l.submit = SubmitControl::Nameless)).await;
}

#[tokio::test]
async fn two_password_inputs_with_a_configured_name_rotate() {
    let w = ca_world(layout(|l| l.second_password = true)).await;
    let mut doc = w.current_doc().await;
    doc.jamf.secret_field = Some("clientSecret".into());
    put_doc(&w, &doc).await;
    let r = rotate(&w).await;
    assert_rotated(&w, &r).await;
}

#[tokio::test]
async fn a_multipart_form_is_sent_in_its_own_encoding() {
    let w = rotated(Layout {
        multipart: true,
        ..Layout::extra_reordered_button()
    })
    .await;

    let post = request(&w, |q| {
        q.method == "POST" && q.path.starts_with("/ConditionalAccess")
    });
    let content_type = header(&post, "content-type");
    assert!(
        content_type.starts_with("multipart/form-data; boundary="),
        "{content_type}"
    );
    assert!(
        post.body
            .contains("name=\"notes\"\r\n\r\nmanaged by IT\r\n"),
        "{}",
        post.body
    );
}
