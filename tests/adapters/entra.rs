//! The Entra/Graph client (`GraphDirectory`) against the Entra stand-in: real HTTP on loopback,
//! virtual time. Each test starts one tenant where the rotator owns the target app.
//!
//! One test binary (`cargo test --test entra`); its parts live in `tests/adapters/entra/`:
//! - `harness.rs`: the tenant and the client signed in as the rotator, shared checks.
//! - `applications.rs`: reading the app, writes refused without ownership, lifetime policies.
//! - `retries.rs`: the cached token, throttling, 503s retried, `addPassword` not repeated on 500.
//! - `sign_in.rs`: AADSTS errors at the token endpoint; `check_secret` and propagation.
//! - `hosts.rs`: each cloud's Graph scope, default hosts, plain HTTP refused.
//! - `responses.rs`: HTML and truncated answers; no secret in errors, `Debug` or Graph requests.

#[path = "entra/applications.rs"]
mod applications;
#[path = "entra/harness.rs"]
mod harness;
#[path = "entra/hosts.rs"]
mod hosts;
#[path = "entra/responses.rs"]
mod responses;
#[path = "entra/retries.rs"]
mod retries;
#[path = "entra/sign_in.rs"]
mod sign_in;
