//! The test kit of `jamf-entra-rotator`: everything the tests, the CLI's `demo` and `sim` use
//! and the deployed function never contains.
//!
//! - Stand-ins for Entra ID/Microsoft Graph ([`entra`]), Jamf Pro ([`jamf`], its web UI
//!   [`jamf_web`]) and AWS STS `GetWebIdentityToken` ([`sts`]). They follow `docs/contracts`
//!   (copied from the team's shared contracts): status codes, JSON shapes, error bodies,
//!   propagation lag, throttling. Each `start()` binds `127.0.0.1:0` and returns a handle that
//!   exposes state and fault switches.
//! - [`world`]: the stand-ins composed with the engine and a secret store; [`demo`] runs one
//!   rotation in it.
//! - In-memory ports: [`memory_store::MemoryStore`] (Secrets Manager's semantics, with fault
//!   injection and value-free [`inspect::Snapshot`]s), [`memory_leases::MemoryLeases`] (the
//!   lease table), [`alerts::MemoryAlerts`]; and the
//!   [`clock::ManualClock`].

pub mod alerts;
pub mod clock;
pub mod demo;
pub mod entra;
pub mod inspect;
pub mod jamf;
pub mod jamf_web;
pub mod memory_leases;
pub mod memory_store;
pub mod settings;
pub mod sts;
pub mod world;

// The engine's modules, at the paths the stand-ins name them by.
use rotator_engine::{config, document, ports, rotation};

use serde::Serialize;

/// One request a stand-in received, kept for assertions and for the leak scan (bodies included:
/// a test checks that a secret reached only the services that must get it).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Request headers that matter for assertions (`authorization` is never recorded).
    pub headers: Vec<(String, String)>,
    /// Body as text (lossy UTF-8).
    pub body: String,
    /// Status the stand-in answered with.
    pub status: u16,
    /// Response body as text.
    pub response: String,
}

impl RecordedRequest {
    /// A record of one exchange that keeps only the request headers named in `keep` (never
    /// `authorization`).
    pub fn new(
        method: &axum::http::Method,
        uri: &axum::http::Uri,
        headers: &axum::http::HeaderMap,
        keep: &[&str],
        body: String,
        status: u16,
        response: String,
    ) -> Self {
        let headers = keep
            .iter()
            .filter(|h| !h.eq_ignore_ascii_case("authorization"))
            .filter_map(|h| {
                headers
                    .get(*h)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| (h.to_string(), v.to_string()))
            })
            .collect();
        let path = uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default();
        Self {
            method: method.to_string(),
            path,
            headers,
            body,
            status,
            response,
        }
    }
}
