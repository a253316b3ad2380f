//! [`MemoryLeases`]: the lease table in memory, shared by every engine of a test world (the
//! processes of a test), with a log of the calls it answered (the lease-table requests a
//! rotation makes) and a fault switch.

use crate::ports::{LeaseError, LeaseRecord, LeaseStore};
use crate::rotation::lease::InProcessLeases;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use std::sync::{Arc, Mutex};

/// An in-memory lease table with the DynamoDB table's conditions. Cheap to clone: clones share
/// the leases and the log.
#[derive(Clone, Default)]
pub struct MemoryLeases {
    leases: Arc<InProcessLeases>,
    calls: Arc<Mutex<Vec<String>>>,
    failing: Arc<Mutex<Vec<&'static str>>>,
}

impl MemoryLeases {
    /// The calls answered so far, by DynamoDB operation (`PutItem`, `UpdateItem`, `DeleteItem`,
    /// `GetItem`), oldest first.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// Forgets the calls logged so far.
    pub fn clear_calls(&self) {
        self.calls.lock().unwrap().clear();
    }

    /// Makes the next call of `operation` (`DeleteItem`, …) fail as an unreachable table would.
    pub fn fail_next(&self, operation: &'static str) {
        self.failing.lock().unwrap().push(operation);
    }

    /// Who holds the lease of `key` (a secret's name), as stored.
    pub fn record(&self, key: &str) -> Option<LeaseRecord> {
        // The in-memory store answers at once.
        self.leases.holder(key).now_or_never()?.ok().flatten()
    }

    fn log(&self, operation: &'static str) -> Result<(), LeaseError> {
        self.calls.lock().unwrap().push(operation.to_string());
        let mut failing = self.failing.lock().unwrap();
        match failing.iter().position(|f| *f == operation) {
            Some(at) => {
                failing.remove(at);
                Err(LeaseError::Unavailable {
                    operation: operation.into(),
                    code: "InternalServerError".into(),
                    message: "injected fault".into(),
                })
            }
            None => Ok(()),
        }
    }
}

#[async_trait]
impl LeaseStore for MemoryLeases {
    async fn acquire(
        &self,
        key: &str,
        holder: &str,
        expires: DateTime<Utc>,
        now: DateTime<Utc>,
        parked: Option<&str>,
    ) -> Result<(), LeaseError> {
        self.log("PutItem")?;
        self.leases.acquire(key, holder, expires, now, parked).await
    }

    async fn renew(
        &self,
        key: &str,
        holder: &str,
        to: &str,
        expires: DateTime<Utc>,
    ) -> Result<(), LeaseError> {
        self.log("UpdateItem")?;
        self.leases.renew(key, holder, to, expires).await
    }

    async fn release(&self, key: &str, holder: &str) -> Result<(), LeaseError> {
        self.log("DeleteItem")?;
        self.leases.release(key, holder).await
    }

    async fn holder(&self, key: &str) -> Result<Option<LeaseRecord>, LeaseError> {
        self.log("GetItem")?;
        self.leases.holder(key).await
    }
}
