//! Which endpoints the product may talk to: HTTPS only, plain HTTP only to loopback addresses
//! (tests, stand-ins). Every base URL (settings, documents) passes [`check_url`] before use.

use std::net::IpAddr;
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

#[cfg(test)]
mod tests {
    use super::*;

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
