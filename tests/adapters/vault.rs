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
//!
//! [`MemoryStore`]: rotator_testkit::memory_store::MemoryStore
//! [`AwsSecretStore`]: rotator_adapters::secrets_manager::AwsSecretStore
//!
//! One test binary (`cargo test --test vault`); its parts live in `tests/adapters/vault/`:
//! - `harness.rs`: the store under test, the `contract!` macro, shared checks.
//! - `versions.rs`: the contract scenarios outside a rotation: create, describe, not found,
//!   `put_current`, `list_tagged`.
//! - `rotation.rs`: the contract scenarios on a rotation: `put_pending`, `promote`, `remove_pending`.
//! - `memory_store.rs`: `MemoryStore` only: AWS behaviour moto gets wrong, fault injection,
//!   snapshots.
//! - `aws_store.rs`: `AwsSecretStore` only: error mapping and configuration.

#[path = "vault/aws_store.rs"]
mod aws_store;
#[path = "vault/harness.rs"]
mod harness;
#[path = "vault/memory_store.rs"]
mod memory_store;
#[path = "vault/rotation.rs"]
mod rotation;
#[path = "vault/versions.rs"]
mod versions;

// Every contract scenario, against both stores: `memory::<scenario>` and `moto_server::<scenario>`.
harness::contract!(
    versions::create_then_describe_shows_one_current_version,
    versions::create_with_existing_name_fails,
    versions::missing_secret_or_version_is_not_found,
    rotation::empty_pending_version_has_no_value,
    rotation::put_pending_fills_the_pending_version_and_keeps_current,
    rotation::put_pending_twice_with_same_value_is_a_no_op,
    rotation::promote_moves_current_and_previous_and_drops_pending,
    rotation::promote_from_a_version_that_is_not_current_fails,
    rotation::remove_pending_drops_the_label_and_is_idempotent,
    versions::put_current_moves_current_and_previous,
    versions::list_tagged_matches_exact_tag_key_and_value,
);
