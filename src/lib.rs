//! `jamf-entra-rotator` keeps the Microsoft Entra ID client secret that Jamf Pro uses (Intune
//! integration / Conditional Access, or mail through Microsoft Graph) from expiring: it checks the
//! secret's expiry, creates a new secret while the old one still works, waits until Entra accepts
//! it, puts it into Jamf Pro, proves Jamf Pro works with it, and only then retires the old one.
//!
//! The invariant every part protects: at every moment Jamf Pro holds a secret that Entra accepts,
//! and Secrets Manager holds every secret that exists on the app and is ours.
//!
//! # Layout (in reading order)
//!
//! - [`document`]: the JSON document a target's Secrets Manager secret holds.
//! - [`config`]: non-secret settings from the environment (endpoints, thresholds, limits).
//! - [`ports`]: the four narrow traits the engine talks to (directory, Jamf target, secret store,
//!   alerts) and their error types. The engine never sees HTTP or an AWS SDK type.
//! - [`rotation`]: the engine: the guard, the four idempotent steps (`create`, `set`, `test`,
//!   `finish`), the propagation wait, retirement (grace period, observed-use gate), the checked
//!   removal, rollback, the lease that serializes attempts, lockdown, the in-process driver, and
//!   the scheduled `check`.
//! - [`entra`]: Entra ID token endpoint (client secret, certificate or federated assertion) and
//!   the Microsoft Graph applications client (a [`ports::Directory`]); the rotator's own secret
//!   as a target.
//! - [`jamf`]: Jamf Pro API client and web session, and the Jamf targets (`smtp-graph`,
//!   `conditional-access` with its form discovery and `probe`).
//! - [`vault`]: Secrets Manager adapter and an in-memory store (a [`ports::SecretStore`]).
//! - [`alert`]: SNS alerts and an in-memory recorder; [`metrics`]: CloudWatch EMF metric lines.
//! - [`http`]: shared HTTP plumbing: HTTPS-only URLs, timeouts, `Retry-After`.
//! - [`clock`]: the injected clock.
//! - [`redact`]: helpers that keep secrets out of logs and errors.
//! - [`wiring`]: builds the production engine from settings (CLI and Lambda share it).
//! - [`lambda`]: the Lambda function's routing: scheduled check, status, manual rotation, Secrets
//!   Manager step events, many targets with bounded parallelism, metric lines.
//! - [`setup`]: what the CLI's `init`, reports and `sim` need.
//! - `sim` (feature `sim`): stand-ins for Entra/Graph and Jamf Pro used by tests, `demo` and `sim`.

pub mod alert;
pub mod clock;
pub mod config;
pub mod document;
pub mod entra;
pub mod http;
pub mod jamf;
pub mod lambda;
pub mod metrics;
pub mod ports;
pub mod redact;
pub mod rotation;
pub mod setup;
#[cfg(feature = "sim")]
pub mod sim;
pub mod vault;
pub mod wiring;
