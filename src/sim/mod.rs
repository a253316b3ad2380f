//! Stand-ins for Entra ID/Microsoft Graph, Jamf Pro and AWS STS (`GetWebIdentityToken`), behind
//! the default feature `sim`. They
//! follow `docs/contracts` (copied from the team's shared contracts): status codes, JSON shapes,
//! error bodies, propagation lag, throttling. Each `start()` binds `127.0.0.1:0` and returns a
//! handle that exposes state and fault switches. Tests, the CLI's `demo` and `sim` share them.

pub mod demo;
pub mod entra;
pub mod jamf;
pub mod jamf_web;
pub mod sts;
pub mod world;

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
