//! Reading pages off the async runtime. The Lambda runs one thread ([`tokio`]'s current-thread
//! runtime): a page read on it would stall every other target of the invocation for as long as
//! it takes. Reads go to the blocking pool instead, under a time limit; the runtime keeps
//! serving the other targets meanwhile.

use crate::jamf::form::{save_outcome, IntuneForm, SaveOutcome};
use crate::ports::TargetError;
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// The longest a page may take to read: a backstop, since the caps bound the work. A 2 MiB page
/// takes a fraction of a second on a whole core, a few seconds on the 256 MB function's share
/// of one. One that takes longer is refused (the read finishes in the background, dropped).
pub const PARSE_TIME_LIMIT: Duration = Duration::from_secs(10);

/// Runs `read` (parsing the page `operation` loaded) on the blocking pool and waits at most
/// `limit` for it, without holding up the runtime.
pub async fn off_runtime<T: Send + 'static>(
    operation: &str,
    limit: Duration,
    read: impl FnOnce() -> Result<T, TargetError> + Send + 'static,
) -> Result<T, TargetError> {
    let invalid = |message: String| TargetError::InvalidResponse {
        operation: operation.to_string(),
        message,
    };
    match tokio::time::timeout(limit, tokio::task::spawn_blocking(read)).await {
        Ok(Ok(read)) => read,
        Ok(Err(join)) => Err(invalid(format!(
            "reading the page failed ({})",
            if join.is_panic() {
                "it panicked"
            } else {
                "cancelled"
            }
        ))),
        Err(_) => Err(invalid(format!(
            "reading the page took more than {} s (the limit): refusing it",
            limit.as_secs_f64()
        ))),
    }
}

/// Reads the page Jamf Pro answered `form`'s Save with ([`save_outcome`]) off the runtime, its
/// error texts scrubbed of `secrets`.
pub(super) async fn save_outcome_off_runtime(
    form: &IntuneForm,
    html: String,
    secrets: &[&SecretString],
) -> Result<SaveOutcome, TargetError> {
    let owned: Vec<SecretString> = secrets
        .iter()
        .map(|s| SecretString::from(s.expose_secret().to_string()))
        .collect();
    let application_id = form.application_id().to_string();
    let operation = format!("POST {}", crate::http::label_path(form.action.path()));
    off_runtime(&operation, PARSE_TIME_LIMIT, move || {
        let refs: Vec<&SecretString> = owned.iter().collect();
        Ok(save_outcome(&html, &application_id, &refs))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// While a page is being read, the (single-threaded) runtime serves another task: the read
    /// waits for a signal only that task sends. Read on the runtime, it would never get it.
    #[tokio::test(flavor = "current_thread")]
    async fn the_runtime_serves_other_work_while_a_page_is_read() {
        let (tx, rx) = mpsc::channel::<&str>();
        let reading = off_runtime("GET /page", PARSE_TIME_LIMIT, move || {
            // Bounded wait: a failure, not a hang, if the runtime were blocked.
            rx.recv_timeout(Duration::from_secs(30))
                .map_err(|_| TargetError::Config("the other task never ran".into()))
        });
        let other = async move {
            tx.send("served").unwrap();
        };
        let (read, ()) = tokio::join!(reading, other);
        assert_eq!(read.unwrap(), "served");
    }

    /// A read over the time limit is an error naming the page and the limit (paused time: the
    /// clock is moved, nobody sleeps).
    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_read_over_the_time_limit_is_refused() {
        let (release, held) = mpsc::channel::<()>();
        let reading = tokio::spawn(off_runtime("GET /slow", PARSE_TIME_LIMIT, move || {
            let _ = held.recv_timeout(Duration::from_secs(30));
            Ok(())
        }));
        tokio::task::yield_now().await;
        tokio::time::advance(PARSE_TIME_LIMIT + Duration::from_millis(1)).await;
        let e = reading.await.unwrap().unwrap_err().to_string();
        release.send(()).unwrap();
        assert!(
            e.contains("GET /slow") && e.contains("more than 10 s"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_panicking_read_is_an_error() {
        let e = off_runtime::<()>("GET /p", PARSE_TIME_LIMIT, || panic!("boom"))
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("GET /p") && e.contains("panicked"), "{e}");
    }
}
