//! Who is acting: one invocation (an in-process rotation, or one Secrets Manager step event) as
//! a holder of the target's lease. Its id is random, so two overlapping invocations of one
//! rotation are two holders and never both pass the lease ([`super::lease`]). Every step reads
//! what it needs; the holder carries one fact from one step to the next, and only while its lease
//! holds without a break: that this invocation put a rotation's pending secret into Jamf Pro.
//! Nobody else can have written Jamf Pro since (every Jamf write is made under the lease), so
//! testSecret need not write it again ([`super::test`]). Should the lease lapse, the fact is
//! forgotten.

use super::lease::Lease;
use std::sync::{Arc, Mutex};

/// One invocation as a lease holder, and the lease it holds. Cheap to clone (shared).
#[derive(Clone, Debug)]
pub struct Holder {
    id: String,
    lease: Arc<Mutex<Option<Lease>>>,
    /// The token and key id of the pending secret this holder put into Jamf Pro under its
    /// current lease.
    installed: Arc<Mutex<Option<(String, String)>>>,
}

impl Default for Holder {
    fn default() -> Self {
        Self::new()
    }
}

impl Holder {
    /// A new holder, with a random id and no lease.
    pub fn new() -> Self {
        Self {
            id: uuid::Uuid::new_v4().simple().to_string(),
            lease: Arc::default(),
            installed: Arc::default(),
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Lease>> {
        self.lease.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This holder's id, as the lease table records it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The lease held, if any.
    pub fn lease(&self) -> Option<Lease> {
        self.slot().clone()
    }

    /// Records the lease as held.
    pub fn set_lease(&self, lease: Lease) {
        *self.slot() = Some(lease);
    }

    /// Forgets the lease (it is being let go of, or it lapsed) and returns it; what this holder
    /// wrote under it is forgotten too.
    pub fn take_lease(&self) -> Option<Lease> {
        *self.installed_slot() = None;
        self.slot().take()
    }

    fn installed_slot(&self) -> std::sync::MutexGuard<'_, Option<(String, String)>> {
        self.installed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that this holder, under the lease it holds, put the pending secret of `token`
    /// (credential `key_id`) into Jamf Pro.
    pub fn installed(&self, token: &str, key_id: &str) {
        *self.installed_slot() = Some((token.to_string(), key_id.to_lowercase()));
    }

    /// True when this holder put the pending secret of `token` (credential `key_id`) into Jamf
    /// Pro under the lease it still holds.
    pub fn has_installed(&self, token: &str, key_id: &str) -> bool {
        let installed = self.installed_slot().clone();
        self.lease().is_some()
            && installed.is_some_and(|(t, k)| t == token && k == key_id.to_lowercase())
    }
}
