//! What the caller of a step read of the secret just before the step: a check's look (the
//! stages and `AWSCURRENT`'s document, handed to the in-process createSecret) or a step event's
//! admission (the stages and the documents of `AWSCURRENT` and `AWSPENDING`). The step's first
//! read of each of these is answered from it, once; every later read, and every look that guards
//! a change (the stages right after the lease is taken, `AWSPENDING` right before Jamf Pro is
//! written, the stages before a removal), goes to Secrets Manager. A version's value never
//! changes on AWS, and the lease's staleness look compares the stages the step planned from with
//! the stages then, so what was read a moment before stands.

use crate::document::TargetDocument;
use crate::ports::{SecretInfo, AWSCURRENT};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The caller's reads, each given out once. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Looked(Arc<Mutex<Reads>>);

#[derive(Default)]
struct Reads {
    info: Option<SecretInfo>,
    /// `AWSCURRENT`'s version as the caller saw it.
    current: Option<String>,
    /// Version id → its document (`None`: the version holds none, as Secrets Manager's empty
    /// `AWSPENDING` version before createSecret). A value that did not parse is not kept: the
    /// step reads it again and fails on it.
    docs: HashMap<String, Option<TargetDocument>>,
}

impl std::fmt::Debug for Looked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Documents hold secrets: only say which versions were read.
        let reads = self.reads();
        let mut versions: Vec<&String> = reads.docs.keys().collect();
        versions.sort();
        f.debug_struct("Looked")
            .field("info", &reads.info.is_some())
            .field("versions", &versions)
            .finish()
    }
}

impl Looked {
    /// The stages `info` and the documents read of some of its versions.
    pub fn new(info: SecretInfo, docs: Vec<(String, Option<TargetDocument>)>) -> Self {
        Self(Arc::new(Mutex::new(Reads {
            current: info.version_with(AWSCURRENT).map(str::to_string),
            info: Some(info),
            docs: docs.into_iter().collect(),
        })))
    }

    fn reads(&self) -> std::sync::MutexGuard<'_, Reads> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets what is left: it was read for one step only.
    pub(crate) fn forget(&self) {
        *self.reads() = Reads::default();
    }

    /// The stages, the first time they are asked for.
    pub(crate) fn take_info(&self) -> Option<SecretInfo> {
        self.reads().info.take()
    }

    /// The document of `version`, the first time it is asked for (`Some(None)`: it holds none).
    pub(crate) fn take_doc(&self, version: &str) -> Option<Option<TargetDocument>> {
        self.reads().docs.remove(version)
    }

    /// `AWSCURRENT`'s version as the caller saw it, and its document, the first time it is
    /// asked for; `None` when the caller did not read it.
    pub(crate) fn take_current(&self) -> Option<(String, TargetDocument)> {
        let mut reads = self.reads();
        let version = reads.current.take()?;
        let doc = reads.docs.remove(&version)??;
        Some((version, doc))
    }
}
