//! When an Entra or Graph call is tried again, and how long to wait first.
//!
//! The rule comes from what each call does on the server: a GET, a token request and
//! `removePassword` are safe to repeat, so they are retried on throttling, 5xx, timeouts and
//! connection errors. `addPassword` is not: a 5xx or a timeout may hide a credential that was
//! created, and a second attempt would create another, so it is retried only on 429 (Graph
//! throttles before it processes anything). Waiting goes through the injected clock, so tests
//! run on virtual time; `Retry-After` wins over the exponential backoff when Graph sends it.

use crate::clock::SharedClock;
use crate::ports::DirectoryError;
use backon::{BackoffBuilder, ExponentialBuilder};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// At most this many attempts per call.
pub const MAX_ATTEMPTS: usize = rotator_engine::config::GRAPH_ATTEMPTS as usize;

/// Whether a call may be repeated after a failure that may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// Repeating it changes nothing (GET, token, `removePassword`).
    Idempotent,
    /// Repeating it may do the work twice (`addPassword`): retried only when throttled.
    ThrottledOnly,
}

/// How a failed attempt may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Never: the answer will not change (4xx other than 429, bad responses).
    No,
    /// 429: the server did nothing; wait `Retry-After` when given.
    Throttled(Option<Duration>),
    /// 5xx, timeout, connection error: the server may or may not have acted.
    Transient(Option<Duration>),
}

/// One failed attempt: the error to report if it is the last, and whether it may be retried.
#[derive(Debug)]
pub struct Failure {
    /// What the caller sees when no retry follows.
    pub error: DirectoryError,
    /// Whether and when to try again.
    pub retry: Retry,
}

impl Failure {
    /// A failure that no retry can cure.
    pub fn fatal(error: DirectoryError) -> Self {
        Failure {
            error,
            retry: Retry::No,
        }
    }

    fn retryable(&self, safety: Safety) -> bool {
        match (self.retry, safety) {
            (Retry::No, _) => false,
            (Retry::Throttled(_), _) => true,
            (Retry::Transient(_), Safety::Idempotent) => true,
            (Retry::Transient(_), Safety::ThrottledOnly) => false,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self.retry {
            Retry::Throttled(d) | Retry::Transient(d) => d,
            Retry::No => None,
        }
    }
}

/// The backoff used when the server gives no `Retry-After`: 1 s, 2 s, 4 s with jitter.
fn backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_secs(1))
        .with_max_delay(Duration::from_secs(
            rotator_engine::config::GRAPH_MAX_BACKOFF_SECS,
        ))
        .with_max_times(MAX_ATTEMPTS - 1)
        .with_jitter()
}

/// One boxed attempt. Boxing erases the borrowing future's type, which keeps the compiler's
/// `Send` inference working inside `async_trait` methods.
pub type Attempt<'a, T> = Pin<Box<dyn Future<Output = Result<T, Failure>> + Send + 'a>>;

/// Runs `attempt` until it succeeds, fails for good, or [`MAX_ATTEMPTS`] are spent. The result
/// is boxed for the same reason as [`Attempt`].
pub fn run<'a, T, F>(
    clock: &SharedClock,
    operation: &'a str,
    safety: Safety,
    mut attempt: F,
) -> Pin<Box<dyn Future<Output = Result<T, DirectoryError>> + Send + 'a>>
where
    F: FnMut() -> Attempt<'a, T> + Send + 'a,
    T: Send + 'a,
{
    let clock = clock.clone();
    Box::pin(async move {
        // backon supplies the delays; the loop is ours so that waiting goes through the
        // injected clock (backon's own `Retry` future, holding our closures, defeats the `Send`
        // proof `async_trait` needs).
        let mut delays = backoff().build();
        loop {
            let failure = match attempt().await {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            if !failure.retryable(safety) {
                return Err(failure.error);
            }
            // `None` from the backoff means the attempts are spent.
            let Some(delay) = delays.next() else {
                return Err(failure.error);
            };
            let wait = failure.retry_after().unwrap_or(delay);
            tracing::info!(operation, wait_ms = wait.as_millis() as u64, error = %failure.error, "retrying");
            clock.sleep(wait).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use rotator_testkit::clock::ManualClock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn unavailable() -> DirectoryError {
        DirectoryError::Unavailable {
            operation: "x".into(),
            message: "down".into(),
        }
    }

    async fn count_attempts(
        safety: Safety,
        retry: Retry,
    ) -> (usize, ManualClock, chrono::DateTime<chrono::Utc>) {
        let clock = ManualClock::new(chrono::Utc::now());
        let start = clock.now();
        let shared: SharedClock = Arc::new(clock.clone());
        let n = AtomicUsize::new(0);
        let r: Result<(), _> = run(&shared, "x", safety, || {
            n.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                Err(Failure {
                    error: unavailable(),
                    retry,
                })
            })
        })
        .await;
        assert!(r.is_err());
        (n.load(Ordering::SeqCst), clock, start)
    }

    #[tokio::test]
    async fn transient_failures_of_safe_calls_get_four_attempts() {
        let (n, _, _) = count_attempts(Safety::Idempotent, Retry::Transient(None)).await;
        assert_eq!(n, MAX_ATTEMPTS);
    }

    #[tokio::test]
    async fn transient_failures_of_unsafe_calls_are_not_retried() {
        let (n, _, _) = count_attempts(Safety::ThrottledOnly, Retry::Transient(None)).await;
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn throttling_is_retried_even_for_unsafe_calls_and_waits_retry_after() {
        let (n, clock, start) = count_attempts(
            Safety::ThrottledOnly,
            Retry::Throttled(Some(Duration::from_secs(7))),
        )
        .await;
        assert_eq!(n, MAX_ATTEMPTS);
        assert_eq!(
            clock.now() - start,
            chrono::Duration::seconds(7 * (MAX_ATTEMPTS as i64 - 1))
        );
    }

    #[tokio::test]
    async fn fatal_failures_are_never_retried() {
        let (n, _, _) = count_attempts(Safety::Idempotent, Retry::No).await;
        assert_eq!(n, 1);
    }
}
