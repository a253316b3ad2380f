//! The rotation engine of `jamf-entra-rotator`: what a target's secret document is, the narrow
//! ports the engine talks to, and the rotation itself. No HTTP client, AWS SDK or server type
//! appears here; the adapters (`rotator-adapters`) implement the ports.
//!
//! The invariant every part protects: at every moment Jamf Pro holds a secret that Entra accepts,
//! and Secrets Manager holds every secret that exists on the app and is ours.
//!
//! # Layout (in reading order)
//!
//! - [`document`]: the JSON document a target's Secrets Manager secret holds.
//! - [`config`]: non-secret settings from the environment (endpoints, thresholds, limits).
//! - [`ports`]: the four narrow traits the engine talks to (directory, secret holder, secret
//!   store, alerts) and their error types.
//! - [`rotation`]: the guard, the four idempotent steps (`create`, `set`, `test`, `finish`), the
//!   propagation wait, retirement (grace period, observed-use gate), rollback, the in-process
//!   driver, and the scheduled `check` of one target.
//! - [`fleet`]: the deployment's targets and the bounded check of them all (the Lambda's and
//!   the CLI's `check` and `status`), with one report shape per target.
//! - [`alert`]: delivering alerts (never failing the caller), log-only alerts, SNS text rules.
//! - [`metrics`]: CloudWatch EMF metric lines.
//! - [`endpoint`]: HTTPS-only URLs, loopback excepted.
//! - [`clock`]: the injected clock.
//! - [`redact`]: helpers that keep secrets out of logs and errors.
//! - [`panics`]: one target's panic stays in its check; no panic message reaches a log.

pub mod alert;
pub mod clock;
pub mod config;
pub mod document;
pub mod endpoint;
pub mod fleet;
pub mod metrics;
pub mod panics;
pub mod ports;
pub mod redact;
pub mod rotation;
