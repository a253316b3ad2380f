//! The rotator's own authentication modes (`ROTATOR_AUTH`) against the Entra and STS stand-ins:
//! `federated` (an AWS STS web identity token as the client assertion) and `certificate` (a PS256
//! client assertion) rotate end to end; every kind of bad assertion is refused with its AADSTS
//! code; no token, assertion or key shows up anywhere it must not.
//!
//! One test binary (`cargo test --test rotator_auth`); its parts live in `tests/adapters/rotator_auth/`:
//! - `harness.rs`: test keys, the STS client, a world trusting STS, a bare Entra, leak scans.
//! - `end_to_end.rs`: federated (engine and CLI) and certificate rotations on moto.
//! - `federated.rs`: wrong issuer, role, audience, key, signature or age; STS refusals; settings.
//! - `certificate.rs`: unregistered, expired, forged and misaddressed assertions; not a JWT.

#[path = "rotator_auth/certificate.rs"]
mod certificate;
#[path = "rotator_auth/end_to_end.rs"]
mod end_to_end;
#[path = "rotator_auth/federated.rs"]
mod federated;
#[path = "rotator_auth/harness.rs"]
mod harness;
