//! Which endpoints the product may talk to: HTTPS only, never with user-info in the URL, and
//! plain HTTP only to loopback addresses and only where `ALLOW_LOOPBACK_HTTP` says so (tests, the
//! CLI's demo: stand-ins on this machine; the deployed function never sets it). Every base URL
//! (settings, documents) passes [`check_url`] before use.

use std::net::IpAddr;
use url::Url;

/// Whether plain http to a loopback address is allowed (`ALLOW_LOOPBACK_HTTP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LoopbackHttp {
    /// HTTPS only (the default, and the deployed function's).
    #[default]
    Refused,
    /// Plain http to a loopback address too: stand-ins on this machine (tests, `demo`).
    Allowed,
}

/// Checks that `url` is HTTPS (or, when `loopback` allows it, HTTP to a loopback address) and
/// carries no user name or password. Returns the problem otherwise, never the user-info itself.
pub fn check_url(url: &Url, loopback: LoopbackHttp) -> Result<(), String> {
    let host = url.host_str().unwrap_or("the URL");
    if !url.username().is_empty() || url.password().is_some() {
        // A credential in a URL ends up in logs and proxies, and the product never sends one so.
        return Err(format!(
            "the URL for {host} carries a user name or password; give the bare https://host URL"
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) && loopback == LoopbackHttp::Allowed => Ok(()),
        "http" if is_loopback(url) => Err(format!(
            "{host} uses plain http; only https is allowed (plain http to loopback only where \
             ALLOW_LOOPBACK_HTTP=true: tests and the CLI's demo)"
        )),
        "http" => Err(format!(
            "{host} uses plain http; only https is allowed (plain http only to loopback addresses)"
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(url: &str, loopback: LoopbackHttp) -> Result<(), String> {
        check_url(&Url::parse(url).unwrap(), loopback)
    }

    #[test]
    fn https_always_loopback_http_only_when_allowed() {
        use LoopbackHttp::{Allowed, Refused};
        assert!(check("https://x.jamfcloud.com", Refused).is_ok());
        for url in [
            "http://127.0.0.1:9/",
            "http://[::1]:9/",
            "http://localhost:9/",
        ] {
            assert!(check(url, Allowed).is_ok(), "{url}");
            let e = check(url, Refused).unwrap_err();
            assert!(e.contains("ALLOW_LOOPBACK_HTTP"), "{e}");
        }
        let e = check("http://x.jamfcloud.com", Allowed).unwrap_err();
        assert!(
            e.contains("x.jamfcloud.com") && e.contains("plain http"),
            "{e}"
        );
        assert!(check("ftp://x", Allowed).is_err());
    }

    #[test]
    fn user_info_is_refused_always_and_never_echoed() {
        for loopback in [LoopbackHttp::Allowed, LoopbackHttp::Refused] {
            for url in [
                "https://admin:hunter2pw@x.jamfcloud.com/",
                "https://admin@x.jamfcloud.com/",
                "https://:hunter2pw@x.jamfcloud.com/",
                "http://admin:hunter2pw@127.0.0.1:9/",
            ] {
                let e = check(url, loopback).unwrap_err();
                assert!(e.contains("user name or password"), "{e}");
                assert!(!e.contains("hunter2pw") && !e.contains("admin"), "{e}");
            }
        }
    }
}
