//! The rotation engine.

/// Display-name prefix that marks a credential as created by this product; the rotation token
/// follows it.
pub const CREDENTIAL_PREFIX: &str = "jamf-entra-rotator ";
