//! A Secrets Manager wrapper that "crashes" the process at a chosen call: the call never returns
//! (the test then aborts the rotation's task), exactly like a process killed mid-rotation.

use async_trait::async_trait;
use jamf_entra_rotator::ports::{SecretInfo, SecretStore, StoreError};
use secrecy::SecretString;
use std::sync::Arc;
use tokio::sync::Notify;

/// Where to crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashAt {
    /// Before `PutSecretValue(AWSPENDING)` reaches Secrets Manager.
    BeforePutPending,
    /// Right after `PutSecretValue(AWSPENDING)` succeeded.
    AfterPutPending,
    /// Before `UpdateSecretVersionStage(AWSCURRENT)`.
    BeforePromote,
    /// Right after `UpdateSecretVersionStage(AWSCURRENT)` succeeded.
    AfterPromote,
}

/// The wrapper: delegates to `inner`; at the crash point it signals `crashed` and hangs.
pub struct Crashing {
    pub inner: Arc<dyn SecretStore>,
    pub at: CrashAt,
    pub crashed: Arc<Notify>,
}

impl Crashing {
    async fn hang(&self) -> ! {
        self.crashed.notify_one();
        std::future::pending::<()>().await;
        unreachable!()
    }
}

#[async_trait]
impl SecretStore for Crashing {
    async fn describe(&self, id: &str) -> Result<SecretInfo, StoreError> {
        self.inner.describe(id).await
    }
    async fn value(&self, id: &str, v: &str) -> Result<Option<SecretString>, StoreError> {
        self.inner.value(id, v).await
    }
    async fn value_at(
        &self,
        id: &str,
        stage: &str,
    ) -> Result<Option<(String, SecretString)>, StoreError> {
        self.inner.value_at(id, stage).await
    }
    async fn put_pending(
        &self,
        id: &str,
        v: &str,
        value: &SecretString,
        rt: Option<&SecretString>,
    ) -> Result<(), StoreError> {
        if self.at == CrashAt::BeforePutPending {
            self.hang().await;
        }
        self.inner.put_pending(id, v, value, rt).await?;
        if self.at == CrashAt::AfterPutPending {
            self.hang().await;
        }
        Ok(())
    }
    async fn promote(&self, id: &str, v: &str, from: &str) -> Result<(), StoreError> {
        if self.at == CrashAt::BeforePromote {
            self.hang().await;
        }
        self.inner.promote(id, v, from).await?;
        if self.at == CrashAt::AfterPromote {
            self.hang().await;
        }
        Ok(())
    }
    async fn remove_pending(&self, id: &str, v: &str) -> Result<(), StoreError> {
        self.inner.remove_pending(id, v).await
    }
    async fn create(
        &self,
        name: &str,
        value: &SecretString,
        d: &str,
    ) -> Result<String, StoreError> {
        self.inner.create(name, value, d).await
    }
    async fn put_current(&self, id: &str, value: &SecretString) -> Result<(), StoreError> {
        self.inner.put_current(id, value).await
    }
    async fn list_tagged(&self, k: &str, v: Option<&str>) -> Result<Vec<String>, StoreError> {
        self.inner.list_tagged(k, v).await
    }
}
