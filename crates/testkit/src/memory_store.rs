//! [`MemoryStore`]: an in-memory [`SecretStore`] with AWS's semantics (not moto's quirks), for
//! tests and the CLI's `demo`.
//!
//! Versions carry staging labels; a label sits on at most one version; moving `AWSCURRENT` moves
//! `AWSPREVIOUS` to the version it left; a `PutSecretValue` with a known token and a different
//! value fails. Test helpers inject faults and take value-free snapshots.
//!
//! Behind a switch ([`MemoryStore::abandon_rotations_on_new_versions`]), Secrets Manager's
//! documented rule: a new version of a secret while a rotation Secrets Manager started is under
//! way, other than createSecret's `AWSPENDING` write under the rotation's token, abandons that
//! rotation (`AWSPENDING` removed, `RotationAbandoned` recorded).

use crate::inspect::{hash, SecretSnapshot, Snapshot, StoreOp, VersionSnapshot};
use crate::ports::{
    RotateSecretRequest, SecretInfo, SecretStore, StoreError, AWSCURRENT, AWSPENDING, AWSPREVIOUS,
};
use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct Version {
    labels: Vec<String>,
    value: Option<SecretString>,
}

struct Secret {
    arn: String,
    rotation_enabled: Option<bool>,
    /// `RotateSecret`'s configuration: the rotation function and the schedule.
    rotation: Option<(String, Option<String>)>,
    tags: BTreeMap<String, String>,
    versions: BTreeMap<String, Version>,
    /// The token of the rotation Secrets Manager started (`RotateSecret`) and that is under way.
    rotating: Option<String>,
}

impl Secret {
    /// Attaches `label` to `version_id`, taking it off whichever version had it.
    fn attach(&mut self, label: &str, version_id: &str) {
        self.detach(label);
        let v = self.versions.entry(version_id.to_string()).or_default();
        v.labels.push(label.to_string());
    }
    fn detach(&mut self, label: &str) {
        for v in self.versions.values_mut() {
            v.labels.retain(|l| l != label);
        }
    }
    fn with_label(&self, label: &str) -> Option<&str> {
        self.versions
            .iter()
            .find(|(_, v)| v.labels.iter().any(|l| l == label))
            .map(|(id, _)| id.as_str())
    }
    /// What `RotateSecret` does before invoking the rotation function (see
    /// [`MemoryStore::begin_rotation`]). True when it made the version (false: the same token
    /// again, a no-op).
    fn begin(&mut self, secret_id: &str, token: &str) -> Result<bool, StoreError> {
        match self.with_label(AWSPENDING) {
            Some(v) if v == token => return Ok(false),
            Some(_) => {
                return Err(aws_error(
                    "RotateSecret",
                    secret_id,
                    "InvalidRequestException",
                    "A previous rotation isn't complete.",
                ))
            }
            None => {}
        }
        if self.versions.contains_key(token) {
            return Err(aws_error(
                "RotateSecret",
                secret_id,
                "ResourceExistsException",
                "version exists",
            ));
        }
        self.versions.insert(token.to_string(), Version::default());
        self.attach(AWSPENDING, token);
        self.rotation_enabled = Some(true);
        self.rotating = Some(token.to_string());
        Ok(true)
    }
    /// AWSCURRENT to `version_id`; AWSPREVIOUS to the version it left.
    fn make_current(&mut self, version_id: &str) {
        if let Some(old) = self.with_label(AWSCURRENT).map(str::to_string) {
            if old != version_id {
                self.attach(AWSPREVIOUS, &old);
            }
        }
        self.attach(AWSCURRENT, version_id);
    }
}

#[derive(Default)]
struct State {
    secrets: BTreeMap<String, Secret>,
    faults: HashMap<StoreOp, (u32, String)>,
    /// The rotation function invocations `RotateSecret` asked for, not yet taken by a test.
    invocations: Vec<RotationInvocation>,
    /// Secrets Manager's rule that a new version abandons its rotation, switched on.
    abandon_on_new_version: bool,
    /// `RotationAbandoned` events: (secret name, the abandoned rotation's token).
    abandoned: Vec<(String, String)>,
}

/// A rotation `RotateSecret` handed to Secrets Manager: Secrets Manager would now invoke
/// `function_arn` with the four step events for `token`. Tests take them
/// ([`MemoryStore::take_invocations`]) and send the step events themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationInvocation {
    /// The secret's ARN (what Secrets Manager puts in `SecretId`).
    pub secret_arn: String,
    /// The version being created (`ClientRequestToken`).
    pub token: String,
    /// The rotation function.
    pub function_arn: String,
}

impl State {
    /// The name of a secret given by name or ARN.
    fn name_of(&self, secret_id: &str) -> Result<String, StoreError> {
        if self.secrets.contains_key(secret_id) {
            return Ok(secret_id.to_string());
        }
        self.secrets
            .iter()
            .find(|(_, s)| s.arn == secret_id)
            .map(|(n, _)| n.clone())
            .ok_or_else(|| StoreError::NotFound {
                what: secret_id.to_string(),
            })
    }
    /// Finds a secret by name or ARN.
    fn find(&mut self, secret_id: &str) -> Result<&mut Secret, StoreError> {
        let name = self.name_of(secret_id)?;
        Ok(self.secrets.get_mut(&name).expect("name_of found it"))
    }
    /// Adds secret `name` with one version (`AWSCURRENT`) holding `value`; returns its ARN.
    fn add(&mut self, name: &str, value: &SecretString) -> String {
        let suffix: String = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .take(6)
            .collect();
        let arn = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}-{suffix}");
        let mut secret = Secret {
            arn: arn.clone(),
            rotation_enabled: None,
            rotation: None,
            tags: BTreeMap::new(),
            versions: BTreeMap::new(),
            rotating: None,
        };
        let version = uuid::Uuid::new_v4().to_string();
        secret.versions.insert(
            version.clone(),
            Version {
                labels: vec![],
                value: Some(value.clone()),
            },
        );
        secret.attach(AWSCURRENT, &version);
        self.secrets.insert(name.to_string(), secret);
        arn
    }
    /// Secrets Manager's rule, when switched on: a write of version `version_id` (`pending`: by
    /// `PutSecretValue` with `AWSPENDING`) that creates a version while a rotation it started is
    /// under way abandons that rotation, unless it is createSecret's write under its token.
    fn new_version(
        &mut self,
        secret_id: &str,
        version_id: &str,
        pending: bool,
    ) -> Result<(), StoreError> {
        let on = self.abandon_on_new_version;
        let name = self.name_of(secret_id)?;
        let secret = self.find(secret_id)?;
        let Some(token) = secret.rotating.clone().filter(|_| on) else {
            return Ok(());
        };
        let written = secret
            .versions
            .get(version_id)
            .is_some_and(|v| v.value.is_some());
        if written || (pending && version_id == token) {
            return Ok(());
        }
        if let Some(v) = secret.versions.get_mut(&token) {
            v.labels.retain(|l| l != AWSPENDING);
        }
        secret.rotating = None;
        self.abandoned.push((name, token));
        Ok(())
    }

    /// Fails the call when a fault is armed for `op` (before anything changes).
    fn check(&mut self, op: StoreOp, secret_id: &str) -> Result<(), StoreError> {
        if let Some((n, code)) = self.faults.get_mut(&op) {
            let code = code.clone();
            *n -= 1;
            if *n == 0 {
                self.faults.remove(&op);
            }
            return Err(store_error(
                &format!("{op:?}"),
                secret_id,
                secret_id,
                &code,
                "injected fault",
            ));
        }
        Ok(())
    }
}

/// An in-memory Secrets Manager. Cheap to clone: clones share the same secrets.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("secrets", &self.snapshot())
            .finish()
    }
}

fn aws_error(op: &str, secret_id: &str, code: &str, message: &str) -> StoreError {
    store_error(op, secret_id, secret_id, code, message)
}

/// What the port says an AWS error code means (written here from the port and the Secrets
/// Manager contract, not taken from the adapter it is compared with): a missing secret or version
/// is `NotFound`, anything else an `Aws` error that keeps its code, so `is_transient` reads it
/// the same way.
fn store_error(
    operation: &str,
    secret_id: &str,
    what: &str,
    code: &str,
    message: &str,
) -> StoreError {
    if code == "ResourceNotFoundException" {
        StoreError::NotFound {
            what: what.to_string(),
        }
    } else {
        StoreError::Aws {
            operation: operation.to_string(),
            secret_id: secret_id.to_string(),
            code: code.to_string(),
            message: message.to_string(),
        }
    }
}

/// "version V of S", as `NotFound` names one version.
fn version_of(secret_id: &str, version_id: &str) -> String {
    format!("version {version_id} of secret {secret_id}")
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock must not hide its own failure behind ours.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates secret `name` whose first version (`AWSCURRENT`) is `value`; returns its ARN.
    /// Panics when the name exists (a test bug).
    pub fn insert(&self, name: &str, value: &str) -> String {
        let mut st = self.lock();
        assert!(
            !st.secrets.contains_key(name),
            "MemoryStore::insert: secret {name} exists"
        );
        st.add(name, &SecretString::from(value.to_string()))
    }

    /// What `RotateSecret` does before invoking the rotation function: an empty version `token`
    /// carrying `AWSPENDING`, and rotation enabled. Fails like AWS when another version still
    /// carries `AWSPENDING` ("previous rotation in progress"); repeating it for the same token is
    /// a no-op.
    pub fn begin_rotation(&self, secret_id: &str, token: &str) -> Result<(), StoreError> {
        self.lock()
            .find(secret_id)?
            .begin(secret_id, token)
            .map(|_| ())
    }

    /// Switches Secrets Manager's documented rule on: while a rotation it started is under way,
    /// a new version of the secret (any but createSecret's `AWSPENDING` write under the rotation's
    /// token) abandons it: `AWSPENDING` leaves the token's version and `RotationAbandoned` is
    /// recorded ([`Self::abandoned_rotations`]).
    pub fn abandon_rotations_on_new_versions(&self, on: bool) {
        self.lock().abandon_on_new_version = on;
    }

    /// The `RotationAbandoned` events so far: (secret name, token).
    pub fn abandoned_rotations(&self) -> Vec<(String, String)> {
        self.lock().abandoned.clone()
    }

    /// The rotation invocations `RotateSecret` asked for since the last call, oldest first.
    pub fn take_invocations(&self) -> Vec<RotationInvocation> {
        std::mem::take(&mut self.lock().invocations)
    }

    /// The rotation function and schedule `RotateSecret` configured on the secret.
    pub fn rotation_config(&self, secret_id: &str) -> Option<(String, Option<String>)> {
        self.lock().find(secret_id).ok()?.rotation.clone()
    }

    /// Sets what `describe` reports as `rotation_enabled`.
    pub fn set_rotation_enabled(&self, secret_id: &str, enabled: bool) {
        self.lock()
            .find(secret_id)
            .expect("set_rotation_enabled: no such secret")
            .rotation_enabled = Some(enabled);
    }

    /// Replaces the secret's tags.
    pub fn set_tags(&self, secret_id: &str, tags: &[(&str, &str)]) {
        let mut st = self.lock();
        let secret = st.find(secret_id).expect("set_tags: no such secret");
        secret.tags = tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    /// Makes the next `n` calls of `op` fail with AWS error `code` (`ResourceNotFoundException`
    /// becomes [`StoreError::NotFound`], `ThrottlingException` is transient, …). Nothing changes
    /// in a failed call.
    pub fn fail_next(&self, op: StoreOp, n: u32, code: &str) {
        let mut st = self.lock();
        if n == 0 {
            st.faults.remove(&op);
        } else {
            st.faults.insert(op, (n, code.to_string()));
        }
    }

    /// Every secret, version and label, values hashed.
    pub fn snapshot(&self) -> Snapshot {
        let st = self.lock();
        st.secrets
            .iter()
            .map(|(name, s)| {
                let versions = s
                    .versions
                    .iter()
                    .map(|(id, v)| {
                        let mut labels = v.labels.clone();
                        labels.sort();
                        (
                            id.clone(),
                            VersionSnapshot {
                                labels,
                                value_hash: v.value.as_ref().map(hash),
                            },
                        )
                    })
                    .collect();
                (
                    name.clone(),
                    SecretSnapshot {
                        versions,
                        rotation_enabled: s.rotation_enabled,
                        tags: s.tags.clone(),
                    },
                )
            })
            .collect()
    }
}

#[async_trait]
impl SecretStore for MemoryStore {
    async fn describe(&self, secret_id: &str) -> Result<SecretInfo, StoreError> {
        let mut st = self.lock();
        st.check(StoreOp::Describe, secret_id)?;
        let name = st.name_of(secret_id)?;
        let secret = &st.secrets[&name];
        Ok(SecretInfo {
            arn: secret.arn.clone(),
            name,
            rotation_enabled: secret.rotation_enabled,
            // Like AWS, versions without labels (deprecated) are not listed.
            versions: secret
                .versions
                .iter()
                .filter(|(_, v)| !v.labels.is_empty())
                .map(|(id, v)| (id.clone(), v.labels.clone()))
                .collect(),
        })
    }

    async fn value(
        &self,
        secret_id: &str,
        version_id: &str,
    ) -> Result<Option<SecretString>, StoreError> {
        let mut st = self.lock();
        st.check(StoreOp::Value, secret_id)?;
        let secret = st.find(secret_id)?;
        let version = secret
            .versions
            .get(version_id)
            .ok_or_else(|| StoreError::NotFound {
                what: version_of(secret_id, version_id),
            })?;
        Ok(version.value.clone())
    }

    async fn value_at(
        &self,
        secret_id: &str,
        stage: &str,
    ) -> Result<Option<(String, SecretString)>, StoreError> {
        let mut st = self.lock();
        st.check(StoreOp::ValueAt, secret_id)?;
        let secret = st.find(secret_id)?;
        let Some(id) = secret.with_label(stage) else {
            return Ok(None);
        };
        Ok(secret.versions[id]
            .value
            .clone()
            .map(|v| (id.to_string(), v)))
    }

    async fn put_pending(
        &self,
        secret_id: &str,
        version_id: &str,
        value: &SecretString,
        _rotation_token: Option<&SecretString>,
    ) -> Result<(), StoreError> {
        let mut st = self.lock();
        st.check(StoreOp::PutPending, secret_id)?;
        st.new_version(secret_id, version_id, true)?;
        put_value(
            st.find(secret_id)?,
            secret_id,
            version_id,
            value,
            AWSPENDING,
        )
    }

    async fn promote(
        &self,
        secret_id: &str,
        version_id: &str,
        from_version: &str,
    ) -> Result<(), StoreError> {
        let mut st = self.lock();
        st.check(StoreOp::Promote, secret_id)?;
        let secret = st.find(secret_id)?;
        if !secret.versions.contains_key(version_id) {
            return Err(StoreError::NotFound {
                what: version_of(secret_id, version_id),
            });
        }
        if secret.with_label(AWSCURRENT) != Some(version_id) {
            // AWS refuses to move a label from a version that does not carry it.
            if secret.with_label(AWSCURRENT) != Some(from_version) {
                return Err(aws_error(
                    "UpdateSecretVersionStage",
                    secret_id,
                    "InvalidParameterException",
                    &format!("AWSCURRENT is not attached to version {from_version}"),
                ));
            }
            secret.make_current(version_id);
        }
        if secret.rotating.as_deref() == Some(version_id) {
            secret.rotating = None;
        }
        let v = secret.versions.get_mut(version_id).expect("checked above");
        v.labels.retain(|l| l != AWSPENDING);
        Ok(())
    }

    async fn remove_pending(&self, secret_id: &str, version_id: &str) -> Result<(), StoreError> {
        let mut st = self.lock();
        st.check(StoreOp::RemovePending, secret_id)?;
        let secret = st.find(secret_id)?;
        if let Some(v) = secret.versions.get_mut(version_id) {
            v.labels.retain(|l| l != AWSPENDING);
        }
        if secret.rotating.as_deref() == Some(version_id) {
            secret.rotating = None;
        }
        Ok(())
    }

    async fn create(
        &self,
        name: &str,
        value: &SecretString,
        _description: &str,
    ) -> Result<String, StoreError> {
        let mut st = self.lock();
        st.check(StoreOp::Create, name)?;
        if st.secrets.contains_key(name) {
            return Err(aws_error(
                "CreateSecret",
                name,
                "ResourceExistsException",
                "the secret already exists",
            ));
        }
        Ok(st.add(name, value))
    }

    async fn put_current(&self, secret_id: &str, value: &SecretString) -> Result<(), StoreError> {
        let mut st = self.lock();
        st.check(StoreOp::PutCurrent, secret_id)?;
        let version = uuid::Uuid::new_v4().to_string();
        st.new_version(secret_id, &version, false)?;
        let secret = st.find(secret_id)?;
        secret.versions.insert(
            version.clone(),
            Version {
                labels: vec![],
                value: Some(value.clone()),
            },
        );
        secret.make_current(&version);
        Ok(())
    }

    async fn tags(&self, secret_id: &str) -> Result<BTreeMap<String, String>, StoreError> {
        let mut st = self.lock();
        st.check(StoreOp::Describe, secret_id)?;
        Ok(st.find(secret_id)?.tags.clone())
    }

    async fn tag(&self, secret_id: &str, key: &str, value: &str) -> Result<(), StoreError> {
        let mut st = self.lock();
        let secret = st.find(secret_id)?;
        secret.tags.insert(key.to_string(), value.to_string());
        Ok(())
    }

    async fn list_tagged(&self, key: &str, value: Option<&str>) -> Result<Vec<String>, StoreError> {
        let mut st = self.lock();
        st.check(StoreOp::ListTagged, key)?;
        let mut arns: Vec<String> = st
            .secrets
            .values()
            .filter(|s| {
                s.tags
                    .get(key)
                    .is_some_and(|v| value.is_none_or(|want| v == want))
            })
            .map(|s| s.arn.clone())
            .collect();
        arns.sort();
        Ok(arns)
    }

    async fn rotate_secret(
        &self,
        secret_id: &str,
        request: &RotateSecretRequest,
    ) -> Result<(), StoreError> {
        let mut st = self.lock();
        st.check(StoreOp::RotateSecret, secret_id)?;
        let secret = st.find(secret_id)?;
        let began = if request.rotate_immediately {
            let token = request
                .token
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
            secret.begin(secret_id, &token)?.then_some(token)
        } else {
            None
        };
        secret.rotation = Some((request.function_arn.clone(), request.schedule.clone()));
        secret.rotation_enabled = Some(true);
        let secret_arn = secret.arn.clone();
        if let Some(token) = began {
            st.invocations.push(RotationInvocation {
                secret_arn,
                token,
                function_arn: request.function_arn.clone(),
            });
        }
        Ok(())
    }
}

/// What `PutSecretValue` does with a new version labelled `stage`: the same token and the same
/// value do nothing; a different value under a token that holds one is refused (as AWS does).
fn put_value(
    secret: &mut Secret,
    secret_id: &str,
    version_id: &str,
    value: &SecretString,
    stage: &str,
) -> Result<(), StoreError> {
    if let Some(Version {
        value: Some(old), ..
    }) = secret.versions.get(version_id)
    {
        return if old.expose_secret() == value.expose_secret() {
            Ok(())
        } else {
            Err(aws_error(
                "PutSecretValue",
                secret_id,
                "ResourceExistsException",
                "You can't modify an existing version, you can only create a new version.",
            ))
        };
    }
    secret
        .versions
        .entry(version_id.to_string())
        .or_default()
        .value = Some(value.clone());
    secret.attach(stage, version_id);
    Ok(())
}
