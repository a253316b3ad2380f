//! Test aids of [`crate::memory_store::MemoryStore`]: the operations faults can be injected into, and
//! snapshots that show versions, labels and hashed values (never a value), so a test can prove
//! that a failed or refused call changed nothing.

use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

/// The operations of [`crate::ports::SecretStore`], for [`crate::memory_store::MemoryStore::fail_next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOp {
    /// [`crate::ports::SecretStore::describe`].
    Describe,
    /// [`crate::ports::SecretStore::value`].
    Value,
    /// [`crate::ports::SecretStore::value_at`].
    ValueAt,
    /// [`crate::ports::SecretStore::put_pending`].
    PutPending,
    /// [`crate::ports::SecretStore::promote`].
    Promote,
    /// [`crate::ports::SecretStore::remove_pending`].
    RemovePending,
    /// [`crate::ports::SecretStore::create`].
    Create,
    /// [`crate::ports::SecretStore::put_current`].
    PutCurrent,
    /// [`crate::ports::SecretStore::list_tagged`].
    ListTagged,
    /// [`crate::ports::SecretStore::rotate_secret`].
    RotateSecret,
}

/// One version as a [`Snapshot`] shows it: labels and a hash of the value, never the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionSnapshot {
    /// Staging labels, sorted.
    pub labels: Vec<String>,
    /// A hash of the value (`None` for an empty version); equal values hash equal.
    pub value_hash: Option<u64>,
}

/// One secret as a [`Snapshot`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSnapshot {
    /// Version id → version, including versions without labels.
    pub versions: BTreeMap<String, VersionSnapshot>,
    /// Rotation enabled, as `describe` reports it.
    pub rotation_enabled: Option<bool>,
    /// Tags.
    pub tags: BTreeMap<String, String>,
}

/// Everything a [`crate::memory_store::MemoryStore`] holds, by secret name, with values hashed: compare two snapshots
/// to prove that nothing changed. Safe to print.
pub type Snapshot = BTreeMap<String, SecretSnapshot>;

/// A hash of a value, for snapshots: equal values hash equal within one process.
pub(crate) fn hash(value: &SecretString) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.expose_secret().hash(&mut h);
    h.finish()
}
