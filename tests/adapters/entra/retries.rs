//! What the client repeats and what it does not: the rotator's token is reused until near expiry,
//! throttling waits `Retry-After` in virtual time, safe calls are retried on 503, and
//! `addPassword` (not idempotent) is repeated only when Graph throttled it.

use super::harness::{assert_graph_status, spawn_world};
use chrono::Duration as Days;
use rotator_engine::ports::{Directory, DirectoryError};
use rotator_testkit::clock::Clock;
use rotator_testkit::entra::EntraOp;
use secrecy::ExposeSecret;
use std::time::Duration;

#[tokio::test]
async fn the_rotator_token_is_cached_until_five_minutes_before_expiry() {
    let w = spawn_world().await;
    for _ in 0..3 {
        w.dir.application(&w.app).await.unwrap();
    }
    w.dir.max_password_lifetime(&w.app).await.unwrap();
    assert_eq!(w.sim.count(EntraOp::Token), 1);
    w.clock.advance(Duration::from_secs(3599 - 300 - 1));
    w.dir.application(&w.app).await.unwrap();
    assert_eq!(w.sim.count(EntraOp::Token), 1);
    w.clock.advance(Duration::from_secs(2));
    w.dir.application(&w.app).await.unwrap();
    assert_eq!(w.sim.count(EntraOp::Token), 2);
}

#[tokio::test]
async fn throttling_waits_retry_after_in_virtual_time_then_succeeds() {
    let w = spawn_world().await;
    w.dir.application(&w.app).await.unwrap(); // sign in first
    w.sim.throttle_graph(2, 7);
    let start = w.clock.now();
    w.dir.application(&w.app).await.unwrap();
    assert!(
        w.elapsed_since(start) >= Duration::from_secs(14),
        "{:?}",
        w.elapsed_since(start)
    );
    assert_eq!(w.sim.count(EntraOp::GetApplication), 4);
}

#[tokio::test]
async fn throttling_that_outlasts_four_attempts_is_a_transient_graph_error() {
    let w = spawn_world().await;
    w.sim.throttle_graph(10, 1);
    let e = w.dir.application(&w.app).await.unwrap_err();
    assert!(
        matches!(e, DirectoryError::Graph { status: 429, .. }) && e.is_transient(),
        "{e:?}"
    );
    assert_eq!(w.sim.count(EntraOp::GetApplication), 4);
}

/// Fails the next two calls of `op` with 503, reads the app (which must succeed), and returns
/// how many times `op` was called.
async fn calls_to_read_through_two_503s_on(op: EntraOp) -> usize {
    let w = spawn_world().await;
    w.sim.fail_next(op, 2, 503);
    w.dir.application(&w.app).await.unwrap();
    w.sim.count(op)
}

#[tokio::test]
async fn a_get_is_retried_on_503() {
    assert_eq!(
        calls_to_read_through_two_503s_on(EntraOp::GetApplication).await,
        3
    );
}

#[tokio::test]
async fn token_endpoint_outages_are_retried_for_the_rotator() {
    assert_eq!(calls_to_read_through_two_503s_on(EntraOp::Token).await, 3);
}

#[tokio::test]
async fn add_password_is_not_retried_on_500() {
    let w = spawn_world().await;
    w.sim.fail_next(EntraOp::AddPassword, 1, 500);
    let e = w.add_password(&w.app, "rotator 1", 90).await.unwrap_err();
    assert_graph_status(&e, 500);
    assert_eq!(w.sim.count(EntraOp::AddPassword), 1);
    assert_eq!(w.sim.passwords(&w.target.object_id).len(), 1);
}

#[tokio::test]
async fn add_password_is_retried_when_throttled_and_creates_one_credential() {
    let w = spawn_world().await;
    w.dir.application(&w.app).await.unwrap();
    w.sim.throttle_graph(1, 3);
    let end = w.clock.now() + Days::days(90);
    let new = w.dir.add_password(&w.app, "rotator 2", end).await.unwrap();
    assert_eq!(w.sim.count(EntraOp::AddPassword), 2);
    let listed = w.sim.passwords(&w.target.object_id);
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&new.credential));
    assert_eq!(new.credential.end, Some(end));
    assert_eq!(new.secret.expose_secret().len(), 40);
    assert_eq!(
        new.credential.hint.as_deref(),
        Some(&new.secret.expose_secret()[..3])
    );
}

#[tokio::test]
async fn remove_password_is_idempotent_and_retried_on_503() {
    let w = spawn_world().await;
    let key = w.sim.passwords(&w.target.object_id)[0].key_id.clone();
    w.sim.fail_next(EntraOp::RemovePassword, 1, 503);
    w.dir.remove_password(&w.app, &key).await.unwrap();
    assert!(w.sim.passwords(&w.target.object_id).is_empty());
    // Again: the key is gone (404), which counts as done.
    w.dir.remove_password(&w.app, &key).await.unwrap();
    w.dir
        .remove_password(&w.app, "00000000-0000-0000-0000-0000000000ff")
        .await
        .unwrap();
    assert_eq!(w.sim.count(EntraOp::RemovePassword), 4);
}
