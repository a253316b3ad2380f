//! Shared HTTP plumbing for the Entra and Jamf clients: HTTPS-only URLs (loopback excepted),
//! a client with timeouts, and `Retry-After`.

use std::time::Duration;

pub use rotator_engine::endpoint::{check_url, is_loopback};

/// A reqwest client with the product's timeouts. `https_only` is relaxed only because loopback
/// stand-ins speak plain HTTP: every base URL passes [`check_url`] before it is used. No redirect
/// is followed, and TLS trusts only [`mozilla_roots`] (rustls on the AWS SDK's aws-lc-rs).
pub fn client(timeout: Duration, max_idle_per_host: usize, cookies: bool) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only(mozilla_roots())
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(max_idle_per_host)
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("jamf-entra-rotator/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("reqwest client builds with static settings")
}

/// Mozilla's root certificates, compiled in (`webpki-root-certs`): what reqwest 0.12's
/// `rustls-tls` built in, where 0.13 would read the host's store through the platform verifier.
/// The same roots everywhere the binary runs, and no certificate file read at each client build.
fn mozilla_roots() -> impl Iterator<Item = reqwest::Certificate> {
    webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().map(|der| {
        reqwest::Certificate::from_der(der).expect("a compiled-in root certificate is DER")
    })
}

/// Parses a `Retry-After` header given in seconds (what Graph sends). HTTP dates are not used
/// by Graph; they fall back to `None` and the caller's own backoff.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim()
        .parse::<u64>()
        .ok()
        .map(|s| Duration::from_secs(s.min(300)))
}
