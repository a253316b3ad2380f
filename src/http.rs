//! Shared HTTP plumbing for the Entra and Jamf clients: HTTPS-only URLs (loopback excepted),
//! a client with timeouts, and `Retry-After`.

use std::net::IpAddr;
use std::time::Duration;
use url::Url;

/// Checks that `url` is HTTPS, or HTTP to a loopback address. Returns the problem otherwise.
pub fn check_url(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        "http" => Err(format!(
            "{} uses plain http; only https is allowed (plain http only to loopback addresses)",
            url.host_str().unwrap_or("the URL")
        )),
        other => Err(format!("scheme '{other}' is not https")),
    }
}

/// True when the URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_trust_mozillas_roots() {
        assert!(mozilla_roots().count() > 100);
        drop(client(Duration::from_secs(1), 1, true));
    }

    #[test]
    fn only_https_or_loopback() {
        assert!(check_url(&Url::parse("https://x.jamfcloud.com").unwrap()).is_ok());
        assert!(check_url(&Url::parse("http://127.0.0.1:9/").unwrap()).is_ok());
        assert!(check_url(&Url::parse("http://[::1]:9/").unwrap()).is_ok());
        assert!(check_url(&Url::parse("http://localhost:9/").unwrap()).is_ok());
        let e = check_url(&Url::parse("http://x.jamfcloud.com").unwrap()).unwrap_err();
        assert!(
            e.contains("x.jamfcloud.com") && e.contains("plain http"),
            "{e}"
        );
        assert!(check_url(&Url::parse("ftp://x").unwrap()).is_err());
    }
}
