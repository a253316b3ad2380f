//! `MemoryStore` only: the AWS behaviour moto gets wrong (so the contract cannot compare the two
//! stores there), and the helpers the engine's tests lean on: fault injection and snapshots.

use super::harness::{assert_not_found, code, secret, token};
use rotator_engine::ports::SecretStore;
use rotator_testkit::inspect::StoreOp;
use rotator_testkit::memory_store::MemoryStore;

/// A memory store holding one secret, `s`, whose current value is `v1`.
fn store_with_one_secret() -> MemoryStore {
    let store = MemoryStore::new();
    store.insert("s", "v1");
    store
}

#[tokio::test]
async fn memory_put_pending_with_known_token_and_other_value_fails() {
    // moto overwrites here; AWS refuses, and so must the store the engine is tested against.
    let store = store_with_one_secret();
    let t = token();
    store
        .put_pending("s", &t, &secret("v2"), None)
        .await
        .expect("first");
    let before = store.snapshot();
    let err = store
        .put_pending("s", &t, &secret("other"), None)
        .await
        .expect_err("different value");
    assert_eq!(code(&err), "ResourceExistsException");
    assert_eq!(store.snapshot(), before);
}

#[tokio::test]
async fn memory_begin_rotation_refuses_while_pending() {
    // AWS: AWSPENDING on a version other than AWSCURRENT means a rotation is in progress.
    let store = store_with_one_secret();
    let t = token();
    store.begin_rotation("s", &t).expect("first");
    store.begin_rotation("s", &t).expect("same token again");
    let err = store
        .begin_rotation("s", &token())
        .expect_err("second rotation");
    assert_eq!(code(&err), "InvalidRequestException");
}

#[tokio::test]
async fn memory_fail_next_injects_faults_and_changes_nothing() {
    let store = store_with_one_secret();
    let before = store.snapshot();
    store.fail_next(StoreOp::PutCurrent, 2, "ThrottlingException");
    for _ in 0..2 {
        let err = store
            .put_current("s", &secret("v2"))
            .await
            .expect_err("injected");
        assert!(err.is_transient(), "{err:?}");
    }
    assert_eq!(store.snapshot(), before);
    store
        .put_current("s", &secret("v2"))
        .await
        .expect("third call goes through");
    assert_ne!(store.snapshot(), before);
    store.fail_next(StoreOp::Describe, 1, "ResourceNotFoundException");
    assert_not_found(store.describe("s").await);
    assert!(store.describe("s").await.is_ok());
}

#[tokio::test]
async fn memory_snapshot_and_debug_never_show_values() {
    let store = MemoryStore::new();
    let arn = store.insert("s", "hunter2-very-secret");
    store.set_tags(&arn, &[("target", "prod")]);
    store.set_rotation_enabled("s", false);
    let snap = store.snapshot();
    let shown = format!("{snap:?} {store:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    let s = &snap["s"];
    assert_eq!(
        (s.rotation_enabled, s.tags.get("target").map(String::as_str)),
        (Some(false), Some("prod"))
    );
    assert!(s.versions.values().all(|v| v.value_hash.is_some()));
    // Clones share state.
    store
        .clone()
        .put_current("s", &secret("v2"))
        .await
        .expect("put_current");
    assert_ne!(store.snapshot(), snap);
}
