//! The `conditional-access` target end to end: rotations through the Jamf Pro web UI stand-in's
//! Conditional Access page, with Entra's stand-in and Secrets Manager on moto, on virtual time.
//! Every rotation test ends with the invariant and the leak scan.
//!
//! One test binary (`cargo test --test conditional_access`); its parts live in
//! `tests/adapters/conditional_access/`:
//! - `harness.rs`: the world, a rotation, what the stand-in recorded, the closing checks.
//! - `layouts.rs`: finding the Intune form in the layouts Jamf Pro serves.
//! - `sessions.rs`: SSO, web logins and sessions.
//! - `rollback.rs`: the save-time test, notifications, rollback and alerts; the heartbeat.
//! - `refusals.rs`: rotations refused before any change.
//! - `probe.rs`: the read-only probe and the `probe` and `demo` commands.
//! - `hostile_page.rs`: a hostile edit page fails its target, and the others complete.

#[path = "conditional_access/harness.rs"]
mod harness;
#[path = "conditional_access/hostile_page.rs"]
mod hostile_page;
#[path = "conditional_access/layouts.rs"]
mod layouts;
#[path = "conditional_access/probe.rs"]
mod probe;
#[path = "conditional_access/refusals.rs"]
mod refusals;
#[path = "conditional_access/rollback.rs"]
mod rollback;
#[path = "conditional_access/sessions.rs"]
mod sessions;
