//! Contract scenarios on a rotation's versions, each run against both stores by `contract!` in
//! `tests/adapters/vault.rs`: the pending version before and after `put_pending`, `promote` (repeated,
//! and from the wrong version), and `remove_pending`.

use super::harness::{code, current_and_previous, only_current, secret, token, World};
use rotator_engine::ports::{AWSCURRENT, AWSPENDING, AWSPREVIOUS};

pub async fn empty_pending_version_has_no_value(w: World) {
    let (name, _, current) = w.secret("v1").await;
    let t = w.rotation(&name).await;
    let info = w.store.describe(&name).await.expect("describe");
    assert!(
        info.has(&t, AWSPENDING) && info.has(&current, AWSCURRENT),
        "{info:?}"
    );
    assert_eq!(info.rotation_enabled, Some(true));
    assert_eq!(w.value(&name, &t).await, None);
    assert_eq!(w.value_at(&name, AWSPENDING).await, None);
    w.assert_at(&name, AWSCURRENT, &current, "v1").await;
}

pub async fn put_pending_fills_the_pending_version_and_keeps_current(w: World) {
    let (name, _, current) = w.secret("v1").await;
    let t = w.rotation(&name).await;
    w.store
        .put_pending(
            &name,
            &t,
            &secret("v2"),
            Some(&secret("opaque-rotation-token")),
        )
        .await
        .expect("put_pending");
    assert_eq!(w.value(&name, &t).await.as_deref(), Some("v2"));
    w.assert_at(&name, AWSPENDING, &t, "v2").await;
    w.assert_at(&name, AWSCURRENT, &current, "v1").await;
    // Without a prior RotateSecret, put_pending creates the version itself.
    let (other, _, _) = w.secret("w1").await;
    let t2 = token();
    w.store
        .put_pending(&other, &t2, &secret("w2"), None)
        .await
        .expect("put_pending new version");
    w.assert_at(&other, AWSPENDING, &t2, "w2").await;
}

pub async fn put_pending_twice_with_same_value_is_a_no_op(w: World) {
    let (name, _, _) = w.secret("v1").await;
    let t = w.pending(&name, "v2").await;
    let before = w.labels(&name).await;
    w.store
        .put_pending(&name, &t, &secret("v2"), None)
        .await
        .expect("same token, same value");
    assert_eq!(w.labels(&name).await, before);
    assert_eq!(w.value(&name, &t).await.as_deref(), Some("v2"));
}

pub async fn promote_moves_current_and_previous_and_drops_pending(w: World) {
    let (name, _, v1) = w.secret("v1").await;
    let t = w.pending(&name, "v2").await;
    w.store.promote(&name, &t, &v1).await.expect("promote");
    assert_eq!(w.labels(&name).await, current_and_previous(&t, &v1));
    w.assert_at(&name, AWSCURRENT, &t, "v2").await;
    w.assert_at(&name, AWSPREVIOUS, &v1, "v1").await;
    assert_eq!(w.value_at(&name, AWSPENDING).await, None);
    // A finishSecret repeated after a crash changes nothing.
    w.store
        .promote(&name, &t, &v1)
        .await
        .expect("promote again");
    assert_eq!(w.labels(&name).await, current_and_previous(&t, &v1));
    // The next rotation moves AWSPREVIOUS on; the first version drops out of the listing.
    let t2 = w.pending(&name, "v3").await;
    w.store.promote(&name, &t2, &t).await.expect("promote 2");
    assert_eq!(w.labels(&name).await, current_and_previous(&t2, &t));
    w.assert_at(&name, AWSPREVIOUS, &t, "v2").await;
}

pub async fn promote_from_a_version_that_is_not_current_fails(w: World) {
    let (name, _, v1) = w.secret("v1").await;
    let t = w.pending(&name, "v2").await;
    let before = w.labels(&name).await;
    let err = w
        .store
        .promote(&name, &t, &t)
        .await
        .expect_err("AWSCURRENT is not on the pending version");
    assert_eq!(code(&err), "InvalidParameterException");
    assert_eq!(w.labels(&name).await, before);
    w.assert_at(&name, AWSCURRENT, &v1, "v1").await;
}

pub async fn remove_pending_drops_the_label_and_is_idempotent(w: World) {
    let (name, _, v1) = w.secret("v1").await;
    let t = w.pending(&name, "v2").await;
    w.store
        .remove_pending(&name, &t)
        .await
        .expect("remove_pending");
    assert_eq!(w.labels(&name).await, only_current(&v1));
    w.store
        .remove_pending(&name, &t)
        .await
        .expect("already gone");
    w.store
        .remove_pending(&name, &v1)
        .await
        .expect("never there");
    assert_eq!(w.labels(&name).await, only_current(&v1));
    w.assert_at(&name, AWSCURRENT, &v1, "v1").await;
}
