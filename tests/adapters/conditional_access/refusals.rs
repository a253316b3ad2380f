//! Rotations refused before any change: a page without the Intune form, two password inputs
//! and no configured name, another application id on the page, an API client instead of a
//! user account for the web login.

use super::harness::{
    assert_failed_saying, ca_world, edit_page, layout, put_doc, refused, rotate,
    OTHER_APPLICATION_ID,
};
use crate::common::spawn_with;
use rotator_engine::document::TargetKind;
use rotator_testkit::jamf_web::Layout;

#[tokio::test]
async fn a_page_without_the_intune_form_is_refused() {
    refused(
        layout(|l| l.no_form = true),
        "no form with a client-secret input",
    )
    .await;
}

#[tokio::test]
async fn two_password_inputs_are_refused_without_a_configured_name() {
    refused(layout(|l| l.second_password = true), "jamf.secret_field").await;
}

#[tokio::test]
async fn another_application_id_on_the_page_is_refused() {
    let w = ca_world(Layout::default()).await;
    edit_page(&w, |s| s.application_id = OTHER_APPLICATION_ID.into());
    let r = rotate(&w).await;
    assert_failed_saying(&r, OTHER_APPLICATION_ID);
    assert_eq!(w.jamf.web().counts().save_posts, 0);
}

#[tokio::test]
async fn an_api_client_credential_is_refused_clearly() {
    let w = spawn_with(10, |o| o.target = TargetKind::SmtpGraph).await;
    let mut doc = w.current_doc().await;
    doc.jamf.target = TargetKind::ConditionalAccess;
    put_doc(&w, &doc).await;
    let r = rotate(&w).await;
    assert_failed_saying(&r, "username");
}
