//! Shared HTTP plumbing for the Entra and Jamf clients: HTTPS-only URLs (loopback excepted),
//! a client with timeouts, response bodies read under a size cap, and `Retry-After`.

use std::time::Duration;

pub use rotator_engine::endpoint::{check_url, is_loopback, LoopbackHttp};

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

/// The largest response body read from Entra, Graph or Jamf Pro. Their answers are kilobytes,
/// Jamf Pro's web settings pages (the largest) at most a few hundred; anything bigger is a
/// broken or hostile server or proxy, and reading it whole could exhaust the function's memory
/// in the middle of a rotation.
pub const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// Why a response could not be received.
#[derive(Debug)]
pub enum ResponseError {
    /// Occurs when the connection fails, times out or breaks while the body is read.
    Transport(reqwest::Error),
    /// Occurs when the body is larger than `limit` bytes (as declared, or as read so far).
    TooLarge {
        /// The cap that was hit.
        limit: usize,
    },
}

impl From<reqwest::Error> for ResponseError {
    fn from(e: reqwest::Error) -> Self {
        ResponseError::Transport(e)
    }
}

/// The message for a body over the cap (never quoting the body).
pub fn too_large(limit: usize) -> String {
    format!(
        "the response body is larger than the {} limit; the server or a proxy in between did not answer as the API does",
        size(limit)
    )
}

fn size(bytes: usize) -> String {
    if bytes >= 1024 * 1024 && bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{bytes}-byte")
    }
}

/// Reads `response`'s body chunk by chunk and stops as soon as it passes `limit` bytes (a
/// declared `Content-Length` over the limit is refused before anything is read), so at most
/// `limit` bytes plus one chunk are ever held, whatever the server sends.
pub async fn read_body(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, ResponseError> {
    if response
        .content_length()
        .is_some_and(|declared| declared > limit as u64)
    {
        return Err(ResponseError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            // Dropping the response closes the connection: the rest is never read.
            return Err(ResponseError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A request path as log lines and error labels show it: without `;parameters` on any segment
/// (`;jsessionid=…`), `?query` or `#fragment`, which may carry a session id or a token. The one
/// function every label of a Jamf Pro or Graph request goes through.
pub fn label_path(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split('/')
        .map(|segment| segment.split(';').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/")
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
    fn labels_carry_no_parameters_query_or_fragment() {
        let cases = [
            ("api/v1/notifications", "api/v1/notifications"),
            ("/ConditionalAccess.html?o=u", "/ConditionalAccess.html"),
            ("/a;jsessionid=ABC123/b.html", "/a/b.html"),
            (
                "/page.html;jsessionid=ABC123?token=s3cr3t#frag",
                "/page.html",
            ),
            ("legacy/x.html#token=s3cr3t", "legacy/x.html"),
            ("/p;a=1;b=2", "/p"),
            ("", ""),
        ];
        for (path, label) in cases {
            assert_eq!(label_path(path), label, "{path}");
        }
    }

    /// Serves one raw HTTP answer per connection on a loopback port: `head` (status line and
    /// headers), then `chunks` chunks of `chunk` bytes; returns the URL and how many chunks the
    /// server managed to write before the client hung up.
    async fn serve(
        head: &'static str,
        chunk: usize,
        chunks: usize,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let written = std::sync::Arc::new(AtomicUsize::new(0));
        let count = written.clone();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = s.read(&mut request).await;
            s.write_all(head.as_bytes()).await.unwrap();
            let data = vec![b' '; chunk];
            for _ in 0..chunks {
                let framed = if head.contains("chunked") {
                    [
                        format!("{chunk:x}\r\n").into_bytes(),
                        data.clone(),
                        b"\r\n".to_vec(),
                    ]
                    .concat()
                } else {
                    data.clone()
                };
                if s.write_all(&framed).await.is_err() {
                    return;
                }
                count.fetch_add(1, Ordering::SeqCst);
            }
            if head.contains("chunked") {
                let _ = s.write_all(b"0\r\n\r\n").await;
            }
        });
        (url, written)
    }

    async fn get(url: &str) -> reqwest::Response {
        client(Duration::from_secs(5), 1, false)
            .get(url)
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_body_within_the_cap_is_read_whole() {
        let (url, _) = serve("HTTP/1.1 200 OK\r\ncontent-length: 3000\r\n\r\n", 1000, 3).await;
        let body = read_body(get(&url).await, 3000).await.unwrap();
        assert_eq!(body.len(), 3000);
    }

    #[tokio::test]
    async fn a_declared_length_over_the_cap_is_refused_before_reading() {
        let (url, written) = serve(
            "HTTP/1.1 200 OK\r\ncontent-length: 3145728\r\n\r\n",
            1024 * 1024,
            3,
        )
        .await;
        let e = read_body(get(&url).await, MAX_RESPONSE_BYTES)
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                ResponseError::TooLarge {
                    limit: MAX_RESPONSE_BYTES
                }
            ),
            "{e:?}"
        );
        assert!(too_large(MAX_RESPONSE_BYTES).contains("2 MiB"));
        // Nothing of the body was needed to decide (the server may still be writing it).
        assert!(written.load(std::sync::atomic::Ordering::SeqCst) <= 3);
    }

    #[tokio::test]
    async fn an_endless_chunked_body_is_cut_at_the_cap_without_reading_it_all() {
        // 1 GiB in 64 KiB chunks: a reader that buffered it all would take long and hold it all.
        let (url, written) = serve(
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            64 * 1024,
            16 * 1024,
        )
        .await;
        let e = read_body(get(&url).await, 256 * 1024).await.unwrap_err();
        assert!(
            matches!(e, ResponseError::TooLarge { limit: 262_144 }),
            "{e:?}"
        );
        assert!(
            too_large(256 * 1024).contains("262144-byte"),
            "{}",
            too_large(256 * 1024)
        );
        // What the server could push before the client hung up: the cap plus socket buffers.
        tokio::task::yield_now().await;
        let sent = written.load(std::sync::atomic::Ordering::SeqCst) * 64 * 1024;
        assert!(sent < 64 * 1024 * 1024, "{sent} bytes were sent");
    }
}
