//! What the `conditional_access` tests share: a world whose Jamf Pro holds the secret in the
//! Microsoft Intune integration, a rotation, what the web UI stand-in recorded, and the checks
//! a rotated, rolled-back or refused rotation ends with.

use crate::common::{spawn_with, TestWorld};
use rotator_adapters::jamf::conditional_access::{probe, ProbeReport};
use rotator_engine::config::Cloud;
use rotator_engine::document::{TargetDocument, TargetKind};
use rotator_engine::rotation::report::{Outcome, RotationReport};
use rotator_engine::rotation::RotateRequest;
use rotator_testkit::jamf_web::{CaSettings, Layout};
use rotator_testkit::RecordedRequest;
use secrecy::ExposeSecret;

pub const INTUNE: &str = "https://api.manage.microsoft.com/.default";
/// An application id that is not the one the target's document names.
pub const OTHER_APPLICATION_ID: &str = "99999999-9999-9999-9999-999999999999";

/// `v` as one line of JSON, for the leak scan.
pub fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap()
}

/// A world whose Jamf Pro holds the secret in the Microsoft Intune integration, laid out as
/// `layout` (the document's page path follows the layout's).
pub async fn ca_world(layout: Layout) -> TestWorld {
    let w = spawn_with(10, |o| o.target = TargetKind::ConditionalAccess).await;
    let path = layout.page_path.clone();
    w.jamf.web().set_layout(layout);
    if path != Layout::default().page_path {
        let mut doc = w.current_doc().await;
        doc.jamf.page_path = Some(format!("{}?o=u", path.trim_start_matches('/')));
        put_doc(&w, &doc).await;
    }
    w
}

/// The default layout, changed by `edit`.
pub fn layout(edit: impl FnOnce(&mut Layout)) -> Layout {
    let mut l = Layout::default();
    edit(&mut l);
    l
}

/// Stores `doc` as the target's AWSCURRENT document.
pub async fn put_doc(w: &TestWorld, doc: &TargetDocument) {
    w.store
        .put_current(&w.secret_id, &doc.to_secret())
        .await
        .unwrap();
}

/// A manual rotation of the world's target.
pub async fn rotate(w: &TestWorld) -> RotationReport {
    w.engine
        .rotate(
            &w.secret_id,
            RotateRequest {
                reason: "manual: test".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap()
}

/// A world laid out as `layout`, rotated; checked with [`assert_rotated`].
pub async fn rotated(layout: Layout) -> TestWorld {
    let w = ca_world(layout).await;
    let r = rotate(&w).await;
    assert_rotated(&w, &r).await;
    w
}

/// A world laid out as `layout`, rotated, and checked with
/// [`assert_refused_before_any_change`]: the rotation must be refused saying `says`.
pub async fn refused(layout: Layout, says: &str) {
    let w = ca_world(layout).await;
    let r = rotate(&w).await;
    assert_refused_before_any_change(&w, &r, says).await;
}

/// A world laid out as `layout` whose next save-time test fails, rotated: the rotation must be
/// rolled back. Returns the world, the report, and the report's error.
pub async fn rolled_back_by_a_failing_save_test(
    layout: Layout,
) -> (TestWorld, RotationReport, String) {
    let w = ca_world(layout).await;
    w.jamf.web().fail_next_save_tests(1);
    let r = rotate(&w).await;
    assert_eq!(r.outcome, Outcome::RolledBack, "{:?}", r.error);
    let e = r.error.clone().unwrap();
    (w, r, e)
}

/// The probe of the world's target page (read-only).
pub async fn probe_page(w: &TestWorld) -> ProbeReport {
    probe(
        w.store.clone(),
        &w.settings,
        w.world.clock.clone(),
        &w.secret_id,
    )
    .await
    .unwrap()
}

/// Changes the Intune settings the stand-in's page holds, as an administrator would.
pub fn edit_page(w: &TestWorld, edit: impl FnOnce(&mut CaSettings)) {
    let mut s = w.jamf.web().settings().unwrap();
    edit(&mut s);
    w.jamf.web().configure(s);
}

/// The first request the Jamf Pro stand-in recorded that matches `which`.
pub fn request(w: &TestWorld, which: impl Fn(&RecordedRequest) -> bool) -> RecordedRequest {
    w.jamf.requests().into_iter().find(which).unwrap()
}

/// How many requests the Jamf Pro stand-in recorded that match `which`.
pub fn count_requests(w: &TestWorld, which: impl Fn(&RecordedRequest) -> bool) -> usize {
    w.jamf.requests().iter().filter(|r| which(r)).count()
}

/// Whether the Jamf Pro stand-in recorded a request that matches `which`.
pub fn any_request(w: &TestWorld, which: impl Fn(&RecordedRequest) -> bool) -> bool {
    w.jamf.requests().iter().any(which)
}

/// The value of the header `name` on `req` (empty when it was not sent).
pub fn header(req: &RecordedRequest, name: &str) -> String {
    req.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// Everything the web UI answered (HTML pages included), for the leak scan.
pub fn jamf_responses(w: &TestWorld) -> String {
    w.jamf
        .requests()
        .iter()
        .map(|r| r.response.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Checks that the page still holds the secret the world started with.
pub fn assert_old_secret_kept(w: &TestWorld) {
    assert_eq!(
        w.jamf.web().secret().as_deref(),
        Some(w.secrets[0].expose_secret())
    );
}

/// Checks the end of every rotation that did not succeed: the invariant and the leak scan.
pub async fn assert_safe(w: &TestWorld, r: &RotationReport) {
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(r)]);
}

/// Checks a rotation that must have succeeded: Jamf holds the AWSCURRENT secret, Entra accepts
/// it for Intune, the old credential is gone, and nothing but the secret changed on the page.
pub async fn assert_rotated(w: &TestWorld, r: &RotationReport) {
    assert_eq!(r.outcome, Outcome::Rotated, "{:?}", r.error);
    let before = w.jamf.web().settings().unwrap();
    let doc = w.current_doc().await;
    let held = w.jamf.web().secret().unwrap();
    assert_eq!(held, doc.entra.client_secret.expose_secret());
    assert_ne!(held, w.secrets[0].expose_secret());
    assert!(w.entra.accepts(&w.app.client_id, &held, INTUNE));
    assert!(!w
        .entra
        .accepts(&w.app.client_id, w.secrets[0].expose_secret(), INTUNE));
    assert!(
        before.enabled
            && before.cloud == Cloud::Global
            && before.domain == "contoso.onmicrosoft.com"
    );
    assert_eq!(before.application_id, w.app.client_id);
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    assert_eq!(
        w.jamf.web().sessions(),
        0,
        "every web session must be logged out"
    );
    assert!(w.alerts.sent().is_empty());
    w.assert_invariant().await;
    w.assert_no_leaks(&[&json(r), &jamf_responses(w)]);
}

/// Checks a rotation refused before anything changed: its error `says` why, nothing was
/// submitted, the page and Entra are as they were.
pub async fn assert_refused_before_any_change(w: &TestWorld, r: &RotationReport, says: &str) {
    assert_ne!(r.outcome, Outcome::Rotated);
    let e = r.error.clone().unwrap_or_default();
    assert!(e.contains(says), "{e}");
    assert_eq!(w.jamf.web().counts().save_posts, 0, "nothing was submitted");
    assert_eq!(
        w.jamf.web().sessions(),
        0,
        "a refusal logs out of the web UI too"
    );
    assert_old_secret_kept(w);
    assert_eq!(w.entra.passwords(&w.app.object_id).len(), 1);
    assert_safe(w, r).await;
}

/// Checks that the rotation failed and its error says `says`.
pub fn assert_failed_saying(r: &RotationReport, says: &str) {
    assert_ne!(r.outcome, Outcome::Rotated);
    assert!(
        r.error.as_deref().unwrap_or("").contains(says),
        "{:?}",
        r.error
    );
}
