//! The adapters against the stand-ins and moto: Entra/Graph, the Jamf Pro client and its targets (SMTP, Conditional Access, checked against Jamf's OpenAPI subset), the rotator's own sign-in, the Secrets Manager store, SNS alerts, hostile servers and resource limits.
//!
//! One test binary with a module per area (each links the AWS SDK and the stand-ins once).

#[path = "../common/mod.rs"]
mod common;

mod alert;
mod conditional_access;
mod entra;
mod hostile;
mod jamf;
mod jamf_openapi;
mod lease_table;
mod limits;
mod rotator_auth;
mod vault;
