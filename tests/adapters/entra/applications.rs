//! Reading the target app and writing its passwords: by object id or app id, refused on an app
//! the rotator does not own, and within the smallest password lifetime policy.

use super::harness::{assert_graph_status, spawn_world, TENANT};
use chrono::Duration as Days;
use rotator_engine::ports::{AppRef, Directory, DirectoryError};
use rotator_testkit::clock::Clock;
use rotator_testkit::entra::EntraOp;

#[tokio::test]
async fn reads_the_app_by_object_id_or_by_app_id() {
    let w = spawn_world().await;
    let a = w.dir.application(&w.app).await.unwrap();
    assert_eq!(a.object_id, w.target.object_id);
    assert_eq!(a.passwords.len(), 1);
    assert_eq!(a.passwords[0].display_name.as_deref(), Some("initial"));
    assert_eq!(w.dir.application(&w.app_by_app_id()).await.unwrap(), a);
    assert!(w
        .sim
        .requests()
        .iter()
        .any(|r| r.path.contains("applications(appId=")));
}

#[tokio::test]
async fn an_object_id_of_another_app_is_refused() {
    let w = spawn_world().await;
    let other = w.sim.add_app(TENANT, "Other");
    let wrong = AppRef {
        object_id: Some(other.object_id),
        ..w.app.clone()
    };
    let e = w.dir.application(&wrong).await.unwrap_err();
    assert!(matches!(e, DirectoryError::Config(_)), "{e:?}");
}

#[tokio::test]
async fn writes_without_ownership_are_denied_with_graphs_code_and_request_id() {
    let w = spawn_world().await;
    let (_, app) = w.app_not_ours();
    let e = w.add_password(&app, "x", 30).await.unwrap_err();
    match &e {
        DirectoryError::Graph {
            status: 403,
            code,
            request_id: Some(rid),
            ..
        } => {
            assert_eq!(code, "Authorization_RequestDenied");
            assert!(!rid.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn remove_password_without_ownership_fails() {
    let w = spawn_world().await;
    let (other, app) = w.app_not_ours();
    let (key, _) = w
        .sim
        .seed_password(&other.object_id, "theirs", w.clock.now() + Days::days(5));
    let e = w.dir.remove_password(&app, &key).await.unwrap_err();
    assert_graph_status(&e, 403);
    assert_eq!(w.sim.passwords(&other.object_id).len(), 1);
}

#[tokio::test]
async fn the_smallest_policy_lifetime_wins_and_graph_enforces_it() {
    let w = spawn_world().await;
    assert_eq!(w.dir.max_password_lifetime(&w.app).await.unwrap(), None);
    w.sim.set_max_password_lifetime(Some(Days::days(90)));
    assert_eq!(
        w.dir.max_password_lifetime(&w.app).await.unwrap(),
        Some(Days::days(90))
    );
    w.sim
        .set_app_max_password_lifetime(&w.target.object_id, Some(Days::days(30)));
    assert_eq!(
        w.dir
            .max_password_lifetime(&w.app_by_app_id())
            .await
            .unwrap(),
        Some(Days::days(30))
    );
    let e = w.add_password(&w.app, "too long", 31).await.unwrap_err();
    assert!(
        matches!(&e, DirectoryError::Graph { status: 400, code, .. } if code == "CredentialInvalidLifetimeAsPerAppPolicy"),
        "{e:?}"
    );
    w.add_password(&w.app, "fits", 30).await.unwrap();
}

#[tokio::test]
async fn an_unreadable_policy_means_no_known_limit() {
    let w = spawn_world().await;
    w.sim.set_max_password_lifetime(Some(Days::days(90)));
    w.sim.fail_next(EntraOp::Policy, 2, 403);
    assert_eq!(w.dir.max_password_lifetime(&w.app).await.unwrap(), None);
    assert_eq!(w.sim.count(EntraOp::Policy), 2);
}
