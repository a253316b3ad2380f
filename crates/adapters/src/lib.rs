//! The adapters of `jamf-entra-rotator`: the real implementations of the engine's ports, over
//! HTTPS and the AWS SDK, and the wiring that builds the production engine from settings.
//!
//! # Layout (in reading order)
//!
//! - [`entra`]: Entra ID token endpoint (client secret, certificate or federated assertion) and
//!   the Microsoft Graph applications client (a `Directory`); the rotator's own secret as a
//!   target.
//! - [`jamf`]: Jamf Pro API client and web session, and the Jamf targets (`smtp-graph`,
//!   `conditional-access` with its form discovery and `probe`).
//! - [`secrets_manager`]: the Secrets Manager adapter (a `SecretStore`) and the SDK configuration.
//! - [`lease_table`]: the targets' leases in a DynamoDB table (a `LeaseStore`).
//! - [`sns`]: alerts through an SNS topic.
//! - [`http`]: shared HTTP plumbing: a client with timeouts, `Retry-After`.
//! - [`wiring`]: builds the production engine from settings (CLI and Lambda share it).

pub mod entra;
pub mod http;
pub mod jamf;
pub mod lease_table;
pub mod secrets_manager;
pub mod sns;
pub mod wiring;

// The engine's modules, at the paths the adapters name them by.
use rotator_engine::{alert, clock, config, document, ports, redact, rotation};
