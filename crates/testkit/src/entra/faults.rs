//! The Entra stand-in's switches (latency, propagation lag, password lifetime policies, sign-in
//! report lag, throttling, injected failures, spoiled bodies) and [`injected`], where a request
//! meets the injected failures and spoiled bodies.

use super::graph::graph_error;
use super::token::token_error;
use super::{Corruption, Ctx, EntraOp, EntraSim, Reply, State};
use std::time::Duration;

impl EntraSim {
    /// Holds every request this long (real time) before answering: network and server latency.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// Records requests without their bodies from now on: a benchmark of thousands of requests
    /// then measures the client's memory, not this log's.
    pub fn forget_bodies(&self) {
        self.state().forget_bodies = true;
    }

    /// New passwords answer AADSTS7000215 until `created + lag` (by the clock).
    pub fn set_propagation_lag(&self, lag: Duration) {
        self.state().lag = lag;
    }

    /// A removed password keeps signing in for `lag` after `removePassword` (by the clock), as
    /// Entra's eventually consistent removal does; Graph no longer lists it at once.
    pub fn set_removal_lag(&self, lag: Duration) {
        self.state().removal_lag = lag;
    }

    /// The tenant default app management policy's password lifetime limit (`None`: no limit).
    pub fn set_max_password_lifetime(&self, max: Option<chrono::Duration>) {
        self.state().tenant_max = max;
    }

    /// A per-app app management policy's password lifetime limit (`None`: no policy).
    pub fn set_app_max_password_lifetime(
        &self,
        app_object_id: &str,
        max: Option<chrono::Duration>,
    ) {
        let mut st = self.state();
        st.apps
            .get_mut(app_object_id)
            .expect("unknown app object id")
            .max_lifetime = max;
    }

    /// The next `n` Graph requests answer 429 `Request_ThrottledTemporarily` with `Retry-After`.
    pub fn throttle_graph(&self, n: usize, retry_after_secs: u64) {
        self.state().throttle = Some((n, retry_after_secs));
    }

    /// The next `n` requests of kind `op` answer `status` in the endpoint's error shape. Graph:
    /// the code that goes with the status (403 `Authorization_RequestDenied`, …; 429 and 503 add
    /// `Retry-After: 1`). Token: 401 → `invalid_client` 7000215, other 4xx → `invalid_request`
    /// 90014, 5xx → `temporarily_unavailable` 90033. Nothing is changed by a failed request.
    pub fn fail_next(&self, op: EntraOp, n: usize, status: u16) {
        self.state().fail.insert(op, (n, status));
    }

    /// The next `n` requests of kind `op` answer 200 with a spoiled body (after doing nothing).
    pub fn corrupt_next(&self, op: EntraOp, n: usize, how: Corruption) {
        self.state().corrupt.insert(op, (n, how));
    }

    /// Sign-ins show in the credential sign-in activity report only after `lag` (the real report
    /// lags by minutes to hours).
    pub fn set_sign_in_report_lag(&self, lag: Duration) {
        self.state().sign_in_report_lag = lag;
    }
}

fn graph_code(status: u16) -> &'static str {
    match status {
        400 => "Request_BadRequest",
        401 => "InvalidAuthenticationToken",
        403 => "Authorization_RequestDenied",
        404 => "Request_ResourceNotFound",
        429 => "Request_ThrottledTemporarily",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "generalException",
    }
}

/// Faults switched on by the test: injected failures, then spoiled bodies.
pub(super) fn injected(st: &mut State, ctx: &Ctx, op: EntraOp, token_shape: bool) -> Option<Reply> {
    if let Some((n, status)) = st.fail.get_mut(&op).filter(|(n, _)| *n > 0) {
        *n -= 1;
        let status = *status;
        return Some(if token_shape {
            match status {
                401 => token_error(
                    ctx,
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided.",
                ),
                400..=499 => token_error(
                    ctx,
                    status,
                    "invalid_request",
                    90014,
                    "The request body must contain the following parameter: 'grant_type'.",
                ),
                _ => token_error(
                    ctx,
                    status,
                    "temporarily_unavailable",
                    90033,
                    "A transient error has occurred. Please try again.",
                ),
            }
        } else {
            let mut r = graph_error(ctx, status, graph_code(status), "Injected failure.");
            if status == 429 || status == 503 {
                r.headers.push(("retry-after", "1".into()));
            }
            r
        });
    }
    if let Some((n, how)) = st.corrupt.get_mut(&op).filter(|(n, _)| *n > 0) {
        *n -= 1;
        return Some(match how {
            Corruption::Html => Reply {
                status: 200,
                body: "<!DOCTYPE html><html><head><title>Sign in</title></head><body>Proxy login</body></html>".into(),
                content_type: "text/html",
                headers: vec![],
            },
            Corruption::Oversized => Reply {
                status: 200,
                body: format!("{{\"value\":\"{}\"}}", "x".repeat(3 * 1024 * 1024)),
                content_type: "application/json",
                headers: vec![],
            },
            Corruption::Truncated => Reply {
                status: 200,
                body: r#"{"id":"00000000-0000-0000-0000-000000000000","appId":"#.into(),
                content_type: "application/json",
                headers: vec![],
            },
        });
    }
    None
}
