//! The secret store contract: the same scenarios run against [`MemoryStore`] and against
//! [`AwsSecretStore`] on a real moto server over HTTP, so the engine's tests (which use the
//! memory store) prove what holds on AWS.
//!
//! Where moto and AWS differ (docs/contracts/aws-secrets-manager-rotation.md), the contract
//! scenarios avoid the difference and a memory-only test pins AWS's behaviour:
//! - moto overwrites on PutSecretValue with a known token and another value (AWS refuses):
//!   `memory_put_pending_with_known_token_and_other_value_fails`.
//! - moto's "rotation in progress" check is inverted: `memory_begin_rotation_refuses_while_pending`.
//! - moto omits `RotationEnabled` until RotateSecret; both stores then report `None`.
//! - moto lists versions that lost all labels in `VersionIdsToStages`; AWS does not, and
//!   `AwsSecretStore::describe` drops them, so both stores agree.

#[path = "common/moto.rs"]
mod moto;

use jamf_entra_rotator::ports::{SecretStore, StoreError, AWSCURRENT, AWSPENDING, AWSPREVIOUS};
use jamf_entra_rotator::vault::{AwsSecretStore, MemoryStore, StoreOp};
use secrecy::{ExposeSecret, SecretString};

/// One store under test, with the two things the trait cannot do: start a rotation the way
/// `RotateSecret` does, and tag a secret.
struct World {
    store: Box<dyn SecretStore>,
    backend: Backend,
}

enum Backend {
    Memory(MemoryStore),
    Moto(aws_sdk_secretsmanager::Client),
}

impl World {
    fn memory() -> World {
        let m = MemoryStore::new();
        World {
            store: Box::new(m.clone()),
            backend: Backend::Memory(m),
        }
    }
    async fn moto() -> World {
        let client = moto::secrets_client().await;
        World {
            store: Box::new(AwsSecretStore::new(client.clone())),
            backend: Backend::Moto(client),
        }
    }
    async fn begin_rotation(&self, secret_id: &str, token: &str) {
        match &self.backend {
            Backend::Memory(m) => m.begin_rotation(secret_id, token).expect("begin_rotation"),
            Backend::Moto(c) => moto::begin_rotation(c, secret_id, token).await,
        }
    }
    async fn tag(&self, secret_id: &str, key: &str, value: &str) {
        match &self.backend {
            Backend::Memory(m) => m.set_tags(secret_id, &[(key, value)]),
            Backend::Moto(c) => {
                let tag = aws_sdk_secretsmanager::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build();
                c.tag_resource()
                    .secret_id(secret_id)
                    .tags(tag)
                    .send()
                    .await
                    .expect("TagResource");
            }
        }
    }
    /// Creates a uniquely named secret holding `value`; returns (name, ARN, version id).
    async fn secret(&self, value: &str) -> (String, String, String) {
        let name = moto::unique("vault-test");
        let arn = self
            .store
            .create(&name, &secret(value), "contract test")
            .await
            .expect("create");
        let current = self
            .store
            .describe(&name)
            .await
            .expect("describe")
            .version_with(AWSCURRENT)
            .expect("current")
            .to_string();
        (name, arn, current)
    }
    async fn value_at(&self, secret_id: &str, stage: &str) -> Option<(String, String)> {
        let got = self
            .store
            .value_at(secret_id, stage)
            .await
            .expect("value_at");
        got.map(|(v, s)| (v, s.expose_secret().to_string()))
    }
    async fn value(&self, secret_id: &str, version: &str) -> Option<String> {
        let got = self.store.value(secret_id, version).await.expect("value");
        got.map(|s| s.expose_secret().to_string())
    }
    /// Version id → labels, for the versions that carry any.
    async fn labels(&self, secret_id: &str) -> Vec<(String, Vec<String>)> {
        let info = self.store.describe(secret_id).await.expect("describe");
        info.versions
            .into_iter()
            .map(|(v, mut l)| {
                (v, {
                    l.sort();
                    l
                })
            })
            .collect()
    }
}

fn secret(v: &str) -> SecretString {
    SecretString::from(v.to_string())
}

fn token() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn code(e: &StoreError) -> &str {
    match e {
        StoreError::Aws { code, .. } => code,
        other => panic!("expected an AWS error, got {other:?}"),
    }
}

/// Runs each scenario against both stores: `memory::<name>` and `moto::<name>`.
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory { $( #[tokio::test] async fn $name() { super::$name(super::World::memory()).await } )* }
        mod moto_server { $( #[tokio::test] async fn $name() { super::$name(super::World::moto().await).await } )* }
    };
}

contract!(
    create_then_describe_shows_one_current_version,
    create_with_existing_name_fails,
    missing_secret_or_version_is_not_found,
    empty_pending_version_has_no_value,
    put_pending_fills_the_pending_version_and_keeps_current,
    put_pending_twice_with_same_value_is_a_no_op,
    promote_moves_current_and_previous_and_drops_pending,
    promote_from_a_version_that_is_not_current_fails,
    remove_pending_drops_the_label_and_is_idempotent,
    put_current_moves_current_and_previous,
    list_tagged_matches_exact_tag_key_and_value,
);

async fn create_then_describe_shows_one_current_version(w: World) {
    let (name, arn, current) = w.secret("v1").await;
    let info = w.store.describe(&arn).await.expect("describe by ARN");
    assert_eq!(
        (info.name.as_str(), info.arn.as_str()),
        (name.as_str(), arn.as_str())
    );
    assert_eq!(info.rotation_enabled, None, "no rotation configured yet");
    assert_eq!(
        w.labels(&name).await,
        vec![(current.clone(), vec![AWSCURRENT.to_string()])]
    );
    assert_eq!(
        w.value_at(&name, AWSCURRENT).await,
        Some((current.clone(), "v1".into()))
    );
    assert_eq!(w.value(&arn, &current).await.as_deref(), Some("v1"));
    assert_eq!(w.value_at(&name, AWSPENDING).await, None);
}

async fn create_with_existing_name_fails(w: World) {
    let (name, _, _) = w.secret("v1").await;
    let err = w
        .store
        .create(&name, &secret("v2"), "again")
        .await
        .expect_err("duplicate name");
    assert_eq!(code(&err), "ResourceExistsException");
    assert!(!err.to_string().contains("v2"), "no value in errors: {err}");
    assert_eq!(
        w.value_at(&name, AWSCURRENT)
            .await
            .map(|(_, v)| v)
            .as_deref(),
        Some("v1")
    );
}

async fn missing_secret_or_version_is_not_found(w: World) {
    let missing = moto::unique("missing");
    assert!(matches!(
        w.store.describe(&missing).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        w.store.value_at(&missing, AWSCURRENT).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        w.store.value(&missing, &token()).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        w.store.remove_pending(&missing, &token()).await,
        Err(StoreError::NotFound { .. })
    ));
    let err = w
        .store
        .put_pending(&missing, &token(), &secret("s3cr3t-value"), None)
        .await
        .expect_err("no secret");
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("s3cr3t-value"));
    let (name, _, _) = w.secret("v1").await;
    assert!(matches!(
        w.store.value(&name, &token()).await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn empty_pending_version_has_no_value(w: World) {
    let (name, _, current) = w.secret("v1").await;
    let t = token();
    w.begin_rotation(&name, &t).await;
    let info = w.store.describe(&name).await.expect("describe");
    assert!(
        info.has(&t, AWSPENDING) && info.has(&current, AWSCURRENT),
        "{info:?}"
    );
    assert_eq!(info.rotation_enabled, Some(true));
    assert_eq!(w.value(&name, &t).await, None);
    assert_eq!(w.value_at(&name, AWSPENDING).await, None);
    assert_eq!(
        w.value_at(&name, AWSCURRENT).await,
        Some((current, "v1".into()))
    );
}

async fn put_pending_fills_the_pending_version_and_keeps_current(w: World) {
    let (name, _, current) = w.secret("v1").await;
    let t = token();
    w.begin_rotation(&name, &t).await;
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
    assert_eq!(
        w.value_at(&name, AWSPENDING).await,
        Some((t.clone(), "v2".into()))
    );
    assert_eq!(
        w.value_at(&name, AWSCURRENT).await,
        Some((current, "v1".into()))
    );
    // Without a prior RotateSecret, put_pending creates the version itself.
    let (other, _, _) = w.secret("w1").await;
    let t2 = token();
    w.store
        .put_pending(&other, &t2, &secret("w2"), None)
        .await
        .expect("put_pending new version");
    assert_eq!(
        w.value_at(&other, AWSPENDING).await,
        Some((t2, "w2".into()))
    );
}

async fn put_pending_twice_with_same_value_is_a_no_op(w: World) {
    let (name, _, _) = w.secret("v1").await;
    let t = token();
    w.begin_rotation(&name, &t).await;
    w.store
        .put_pending(&name, &t, &secret("v2"), None)
        .await
        .expect("first");
    let before = w.labels(&name).await;
    w.store
        .put_pending(&name, &t, &secret("v2"), None)
        .await
        .expect("same token, same value");
    assert_eq!(w.labels(&name).await, before);
    assert_eq!(w.value(&name, &t).await.as_deref(), Some("v2"));
}

async fn promote_moves_current_and_previous_and_drops_pending(w: World) {
    let (name, _, v1) = w.secret("v1").await;
    let t = token();
    w.begin_rotation(&name, &t).await;
    w.store
        .put_pending(&name, &t, &secret("v2"), None)
        .await
        .expect("put_pending");
    w.store.promote(&name, &t, &v1).await.expect("promote");
    let expect = |cur: &str, prev: &str| {
        let mut l = vec![
            (cur.to_string(), vec![AWSCURRENT.to_string()]),
            (prev.to_string(), vec![AWSPREVIOUS.to_string()]),
        ];
        l.sort();
        l
    };
    assert_eq!(w.labels(&name).await, expect(&t, &v1));
    assert_eq!(
        w.value_at(&name, AWSCURRENT).await,
        Some((t.clone(), "v2".into()))
    );
    assert_eq!(
        w.value_at(&name, AWSPREVIOUS).await,
        Some((v1.clone(), "v1".into()))
    );
    assert_eq!(w.value_at(&name, AWSPENDING).await, None);
    // A finishSecret repeated after a crash changes nothing.
    w.store
        .promote(&name, &t, &v1)
        .await
        .expect("promote again");
    assert_eq!(w.labels(&name).await, expect(&t, &v1));
    // The next rotation moves AWSPREVIOUS on; the first version drops out of the listing.
    let t2 = token();
    w.begin_rotation(&name, &t2).await;
    w.store
        .put_pending(&name, &t2, &secret("v3"), None)
        .await
        .expect("put_pending 2");
    w.store.promote(&name, &t2, &t).await.expect("promote 2");
    assert_eq!(w.labels(&name).await, expect(&t2, &t));
    assert_eq!(w.value_at(&name, AWSPREVIOUS).await, Some((t, "v2".into())));
}

async fn promote_from_a_version_that_is_not_current_fails(w: World) {
    let (name, _, v1) = w.secret("v1").await;
    let t = token();
    w.begin_rotation(&name, &t).await;
    w.store
        .put_pending(&name, &t, &secret("v2"), None)
        .await
        .expect("put_pending");
    let before = w.labels(&name).await;
    let err = w
        .store
        .promote(&name, &t, &t)
        .await
        .expect_err("AWSCURRENT is not on the pending version");
    assert_eq!(code(&err), "InvalidParameterException");
    assert_eq!(w.labels(&name).await, before);
    assert_eq!(w.value_at(&name, AWSCURRENT).await, Some((v1, "v1".into())));
}

async fn remove_pending_drops_the_label_and_is_idempotent(w: World) {
    let (name, _, v1) = w.secret("v1").await;
    let t = token();
    w.begin_rotation(&name, &t).await;
    w.store
        .put_pending(&name, &t, &secret("v2"), None)
        .await
        .expect("put_pending");
    w.store
        .remove_pending(&name, &t)
        .await
        .expect("remove_pending");
    assert_eq!(
        w.labels(&name).await,
        vec![(v1.clone(), vec![AWSCURRENT.to_string()])]
    );
    w.store
        .remove_pending(&name, &t)
        .await
        .expect("already gone");
    w.store
        .remove_pending(&name, &v1)
        .await
        .expect("never there");
    assert_eq!(
        w.labels(&name).await,
        vec![(v1.clone(), vec![AWSCURRENT.to_string()])]
    );
    assert_eq!(w.value_at(&name, AWSCURRENT).await, Some((v1, "v1".into())));
}

async fn put_current_moves_current_and_previous(w: World) {
    let (name, _, v1) = w.secret("v1").await;
    w.store
        .put_current(&name, &secret("v2"))
        .await
        .expect("put_current");
    let (cur, value) = w.value_at(&name, AWSCURRENT).await.expect("current");
    assert_eq!(value, "v2");
    assert_ne!(cur, v1);
    assert_eq!(
        w.value_at(&name, AWSPREVIOUS).await,
        Some((v1, "v1".into()))
    );
    assert_eq!(w.labels(&name).await.len(), 2);
}

async fn list_tagged_matches_exact_tag_key_and_value(w: World) {
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

// ---------------------------------------------------------------------------------------------
// MemoryStore only: AWS behaviour moto gets wrong, and the test helpers.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn memory_put_pending_with_known_token_and_other_value_fails() {
    // moto overwrites here; AWS refuses, and so must the store the engine is tested against.
    let store = MemoryStore::new();
    store.insert("s", "v1");
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
    let store = MemoryStore::new();
    store.insert("s", "v1");
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
    let store = MemoryStore::new();
    store.insert("s", "v1");
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
    assert!(matches!(
        store.describe("s").await,
        Err(StoreError::NotFound { .. })
    ));
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

// ---------------------------------------------------------------------------------------------
// AwsSecretStore only: error mapping and configuration.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn aws_store_unreachable_endpoint_is_a_transient_error_without_the_value() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(aws_sdk_secretsmanager::config::BehaviorVersion::latest())
        .region(aws_sdk_secretsmanager::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_secretsmanager::config::Credentials::new(
            "a", "b", None, None, "test",
        ))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
        .build();
    let store = AwsSecretStore::new(aws_sdk_secretsmanager::Client::from_conf(conf));
    let err = store
        .put_pending("s", &token(), &secret("pending-value-xyz"), None)
        .await
        .expect_err("nothing listens");
    assert!(err.is_transient(), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("pending-value-xyz"));
}

#[tokio::test]
async fn load_aws_config_honours_aws_endpoint_url() {
    // scripts/test exports AWS_ENDPOINT_URL and dummy credentials; without them there is nothing
    // to check (the client would go to real AWS), so the test says so and passes.
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        eprintln!("AWS_ENDPOINT_URL unset: run scripts/test to check load_aws_config against moto");
        return;
    }
    let conf = jamf_entra_rotator::vault::load_aws_config(std::time::Duration::from_secs(5)).await;
    let store = AwsSecretStore::new(aws_sdk_secretsmanager::Client::new(&conf));
    let name = moto::unique("env-config");
    let arn = store
        .create(&name, &secret("v"), "load_aws_config")
        .await
        .expect("create through env config");
    assert_eq!(store.describe(&name).await.expect("describe").arn, arn);
}
