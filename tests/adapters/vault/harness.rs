//! What the `vault` tests share: one store under test (memory or moto), the two things the
//! trait cannot do, the `contract!` macro that runs a scenario against both stores, and the
//! checks more than one scenario repeats.

use crate::common::moto;
use rotator_adapters::secrets_manager::AwsSecretStore;
use rotator_engine::ports::{SecretStore, StoreError, AWSCURRENT, AWSPREVIOUS};
use rotator_testkit::memory_store::MemoryStore;
use secrecy::{ExposeSecret, SecretString};
use std::fmt::Debug;

/// One store under test, with the two things the trait cannot do: start a rotation the way
/// `RotateSecret` does, and tag a secret.
pub struct World {
    pub store: Box<dyn SecretStore>,
    backend: Backend,
}

enum Backend {
    Memory(MemoryStore),
    Moto(aws_sdk_secretsmanager::Client),
}

impl World {
    pub fn memory() -> World {
        let m = MemoryStore::new();
        World {
            store: Box::new(m.clone()),
            backend: Backend::Memory(m),
        }
    }
    pub async fn moto() -> World {
        let client = moto::secrets_client().await;
        World {
            store: Box::new(AwsSecretStore::new(client.clone())),
            backend: Backend::Moto(client),
        }
    }
    pub async fn begin_rotation(&self, secret_id: &str, token: &str) {
        match &self.backend {
            Backend::Memory(m) => m.begin_rotation(secret_id, token).expect("begin_rotation"),
            Backend::Moto(c) => moto::begin_rotation(c, secret_id, token).await,
        }
    }
    pub async fn tag(&self, secret_id: &str, key: &str, value: &str) {
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
    pub async fn secret(&self, value: &str) -> (String, String, String) {
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
    /// Starts a rotation of `secret_id` under a new token; returns the token.
    pub async fn rotation(&self, secret_id: &str) -> String {
        let t = token();
        self.begin_rotation(secret_id, &t).await;
        t
    }
    /// Starts a rotation of `secret_id` and puts `value` at `AWSPENDING`; returns the token.
    pub async fn pending(&self, secret_id: &str, value: &str) -> String {
        let t = self.rotation(secret_id).await;
        self.store
            .put_pending(secret_id, &t, &secret(value), None)
            .await
            .expect("put_pending");
        t
    }
    pub async fn value_at(&self, secret_id: &str, stage: &str) -> Option<(String, String)> {
        let got = self
            .store
            .value_at(secret_id, stage)
            .await
            .expect("value_at");
        got.map(|(v, s)| (v, s.expose_secret().to_string()))
    }
    pub async fn value(&self, secret_id: &str, version: &str) -> Option<String> {
        let got = self.store.value(secret_id, version).await.expect("value");
        got.map(|s| s.expose_secret().to_string())
    }
    /// Asserts that `stage` is on `version`, which holds `value`.
    pub async fn assert_at(&self, secret_id: &str, stage: &str, version: &str, value: &str) {
        assert_eq!(
            self.value_at(secret_id, stage).await,
            Some((version.to_string(), value.to_string())),
            "{stage}"
        );
    }
    /// Version id → labels, for the versions that carry any.
    pub async fn labels(&self, secret_id: &str) -> Vec<(String, Vec<String>)> {
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

pub fn secret(v: &str) -> SecretString {
    SecretString::from(v.to_string())
}

pub fn token() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn code(e: &StoreError) -> &str {
    match e {
        StoreError::Aws { code, .. } => code,
        other => panic!("expected an AWS error, got {other:?}"),
    }
}

/// The labels of a secret whose only labelled version is `current`.
pub fn only_current(current: &str) -> Vec<(String, Vec<String>)> {
    vec![(current.to_string(), vec![AWSCURRENT.to_string()])]
}

/// The labels of a secret with `AWSCURRENT` on `cur` and `AWSPREVIOUS` on `prev`, sorted.
pub fn current_and_previous(cur: &str, prev: &str) -> Vec<(String, Vec<String>)> {
    let mut l = vec![
        (cur.to_string(), vec![AWSCURRENT.to_string()]),
        (prev.to_string(), vec![AWSPREVIOUS.to_string()]),
    ];
    l.sort();
    l
}

/// Asserts a not-found error.
pub fn assert_not_found<T: Debug>(r: Result<T, StoreError>) {
    assert!(matches!(r, Err(StoreError::NotFound { .. })), "{r:?}");
}

/// Asserts that `value` shows in neither the error's message nor its `Debug` output.
pub fn assert_no_value(err: &StoreError, value: &str) {
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(value), "no value in errors: {shown}");
}

/// Runs each scenario (a `pub async fn(World)` in a part) against both stores, as
/// `memory::<name>` and `moto_server::<name>`.
macro_rules! contract {
    ($($part:ident::$name:ident),* $(,)?) => {
        mod memory { $( #[tokio::test] async fn $name() { super::$part::$name(super::harness::World::memory()).await } )* }
        mod moto_server { $( #[tokio::test] async fn $name() { super::$part::$name(super::harness::World::moto().await).await } )* }
    };
}
pub(crate) use contract;
