//! Contract scenarios on a secret's values outside a rotation, each run against both stores by
//! `contract!` in `tests/adapters/vault.rs`: create and describe, a taken name, what is not found,
//! `put_current`, and finding secrets by tag.

use super::harness::{assert_no_value, assert_not_found, code, only_current, secret, token, World};
use crate::common::moto;
use rotator_engine::ports::{StoreError, AWSCURRENT, AWSPENDING, AWSPREVIOUS};

pub async fn create_then_describe_shows_one_current_version(w: World) {
    let (name, arn, current) = w.secret("v1").await;
    let info = w.store.describe(&arn).await.expect("describe by ARN");
    assert_eq!(
        (info.name.as_str(), info.arn.as_str()),
        (name.as_str(), arn.as_str())
    );
    assert_eq!(info.rotation_enabled, None, "no rotation configured yet");
    assert_eq!(w.labels(&name).await, only_current(&current));
    w.assert_at(&name, AWSCURRENT, &current, "v1").await;
    assert_eq!(w.value(&arn, &current).await.as_deref(), Some("v1"));
    assert_eq!(w.value_at(&name, AWSPENDING).await, None);
}

pub async fn create_with_existing_name_fails(w: World) {
    let (name, _, current) = w.secret("v1").await;
    let err = w
        .store
        .create(&name, &secret("v2"), "again")
        .await
        .expect_err("duplicate name");
    assert_eq!(code(&err), "ResourceExistsException");
    assert_no_value(&err, "v2");
    w.assert_at(&name, AWSCURRENT, &current, "v1").await;
}

pub async fn missing_secret_or_version_is_not_found(w: World) {
    let missing = moto::unique("missing");
    assert_not_found(w.store.describe(&missing).await);
    assert_not_found(w.store.value_at(&missing, AWSCURRENT).await);
    assert_not_found(w.store.value(&missing, &token()).await);
    assert_not_found(w.store.remove_pending(&missing, &token()).await);
    let err = w
        .store
        .put_pending(&missing, &token(), &secret("s3cr3t-value"), None)
        .await
        .expect_err("no secret");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert_no_value(&err, "s3cr3t-value");
    let (name, _, _) = w.secret("v1").await;
    assert_not_found(w.store.value(&name, &token()).await);
}

pub async fn put_current_moves_current_and_previous(w: World) {
    let (name, _, v1) = w.secret("v1").await;
    w.store
        .put_current(&name, &secret("v2"))
        .await
        .expect("put_current");
    let (cur, value) = w.value_at(&name, AWSCURRENT).await.expect("current");
    assert_eq!(value, "v2");
    assert_ne!(cur, v1);
    w.assert_at(&name, AWSPREVIOUS, &v1, "v1").await;
    assert_eq!(w.labels(&name).await.len(), 2);
}

pub async fn list_tagged_matches_exact_tag_key_and_value(w: World) {
    let key = moto::unique("target");
    let (a, a_arn, _) = w.secret("a").await;
    let (b, b_arn, _) = w.secret("b").await;
    let (c, _, _) = w.secret("c").await;
    w.tag(&a, &key, "prod").await;
    w.tag(&b, &key, "dev").await;
    // AWS tag filters match prefixes: a longer key must not count.
    w.tag(&c, &format!("{key}-longer"), "prod").await;
    let mut both = vec![a_arn.clone(), b_arn];
    both.sort();
    assert_eq!(w.store.list_tagged(&key, None).await.expect("list"), both);
    assert_eq!(
        w.store
            .list_tagged(&key, Some("prod"))
            .await
            .expect("list prod"),
        vec![a_arn]
    );
    assert!(w
        .store
        .list_tagged(&moto::unique("nobody"), None)
        .await
        .expect("list none")
        .is_empty());
}
