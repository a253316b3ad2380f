//! Jamf Pro API client and the Jamf targets.
//!
//! - [`credentials`]: the rotator's own Jamf credentials (API client or user account).
//! - [`client`]: the HTTP client: connection limit, node-pinning cookies, token, retries.
//! - [`api`]: typed API calls (SMTP server, test mail, notifications, SSO failover, version).
//! - [`smtp`]: the `smtp-graph` target (mail through Microsoft Graph).
//! - [`web`]: a session on the web UI (login, SSO failover, re-login, logout).
//! - [`form`]: discovering the Conditional Access page's Intune form, reading the page after Save.
//! - [`conditional_access`]: the `conditional-access` target (the Intune integration's page) and `probe`.
//! - [`targets`]: the [`crate::ports::TargetFactory`] that opens a document's target.

pub mod api;
mod auth;
pub mod client;
pub mod conditional_access;
pub mod credentials;
pub mod errors;
pub mod form;
pub mod smtp;
pub mod targets;
pub mod web;

pub use api::{GraphCredentials, Notification, SmtpServer, SsoFailover};
pub use client::JamfClient;
pub use conditional_access::ConditionalAccessTarget;
pub use credentials::JamfCredentials;
pub use smtp::SmtpGraphTarget;
pub use targets::JamfTargets;
