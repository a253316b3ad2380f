//! Entra ID token endpoint and Microsoft Graph client: a [`crate::ports::Directory`].
//!
//! [`GraphDirectory`] signs in as the rotator's own app registration (client credentials,
//! [`RotatorIdentity`]), caches that token per tenant and scope, and reads and changes the
//! target app's password credentials through Graph v1.0. It follows
//! `docs/contracts/entra-graph.md`.
//!
//! Layout: `directory` ([`GraphDirectory`] and its [`crate::ports::Directory`] methods), `call`
//! (the rotator's sign-in and one Graph call), [`identity`] (the rotator's credentials),
//! [`assertion`] (certificate client assertions), [`federated`] (AWS STS web identity tokens),
//! `token` (the token endpoint and cache), `graph` (Graph's JSON and error shape), `policy` (app
//! management policies), `retry` (what is retried and how long to wait), `wire` (URLs, sending,
//! strict JSON fields).

pub mod assertion;
mod call;
mod directory;
pub mod federated;
pub mod graph;
pub mod identity;
mod own_secret;
pub mod policy;
pub mod retry;
pub mod signins;
pub mod token;
pub mod wire;

pub use assertion::CertificateCredential;
pub use directory::GraphDirectory;
pub use federated::{StsWebIdentityTokens, WebIdentityTokens};
pub use identity::{RotatorCredential, RotatorIdentity, RotatorSignIn};
pub use own_secret::OwnSecret;
