//! The Jamf Pro API client and the `smtp-graph` target against the Jamf Pro stand-in, which in
//! turn asks the Entra stand-in whether the secret it holds works. Real HTTP on loopback; time is
//! a `ManualClock`, so token expiry and backoff never wait.
//!
//! One test binary (`cargo test --test jamf`); its parts live in `tests/adapters/jamf/`:
//! - `harness.rs`: Entra, Jamf Pro and the rotator's API client credentials; shared checks.
//! - `sign_in.rs`: API client and user tokens, the legacy OAuth path, a 401 mid-flow.
//! - `transport.rs`: the node cookie, error parsing and retries, at most five connections.
//! - `smtp_graph.rs`: the target's install, verify, refusals, inspect and scope.
//! - `factory.rs`: opening a target needs a recipient, the right kind and usable credentials.
//! - `secrets.rs`: no secret or token in errors, `Debug` output or the recorded headers.

#[path = "jamf/factory.rs"]
mod factory;
#[path = "jamf/harness.rs"]
mod harness;
#[path = "jamf/secrets.rs"]
mod secrets;
#[path = "jamf/sign_in.rs"]
mod sign_in;
#[path = "jamf/smtp_graph.rs"]
mod smtp_graph;
#[path = "jamf/transport.rs"]
mod transport;
