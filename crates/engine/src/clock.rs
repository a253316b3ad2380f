//! The injected clock. Everything that reads the time ("is this secret due?", "has it
//! propagated?") or waits (polling, backoff, `Retry-After`) goes through a [`Clock`], so tests run
//! on virtual time: the test kit's `ManualClock` advances instead of waiting, and no test ever
//! sleeps for real.

use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// A boxed future returned by [`Clock::sleep`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Source of the current time and of waiting.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
    /// Waits for `d` (virtual clocks advance instead).
    fn sleep(&self, d: Duration) -> Sleep;
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

/// The system clock; sleeping is `tokio::time::sleep`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Spaces calls at least an interval apart by a [`Clock`]: each caller waits for its turn.
/// `RotateSecret`, for one, is limited to 50 per second per Region for the whole account.
#[derive(Debug)]
pub struct Pacer {
    interval: chrono::Duration,
    next: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl Pacer {
    /// At most `n` (at least 1) calls per second: the interval is rounded up to the microsecond.
    pub fn per_second(n: u32) -> Self {
        let n = i64::from(n.max(1));
        Self {
            interval: chrono::Duration::microseconds((1_000_000 + n - 1) / n),
            next: std::sync::Mutex::new(None),
        }
    }

    /// Waits until this caller's turn: `interval` after the previous caller's.
    pub async fn turn(&self, clock: &dyn Clock) {
        let now = clock.now();
        let at = {
            let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
            let at = next.map_or(now, |n| n.max(now));
            *next = Some(at + self.interval);
            at
        };
        if let Ok(wait) = (at - now).to_std() {
            if !wait.is_zero() {
                clock.sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock that only moves when something sleeps on it, and remembers the sleeps.
    #[derive(Debug)]
    struct Stepping {
        now: std::sync::Mutex<DateTime<Utc>>,
        slept: std::sync::Mutex<Vec<Duration>>,
    }

    impl Clock for Stepping {
        fn now(&self) -> DateTime<Utc> {
            *self.now.lock().unwrap()
        }
        fn sleep(&self, d: Duration) -> Sleep {
            self.slept.lock().unwrap().push(d);
            Box::pin(async {})
        }
    }

    #[tokio::test]
    async fn a_pacer_spaces_callers_by_its_interval_and_lets_a_late_one_through_at_once() {
        let start = Utc::now();
        let clock = Stepping {
            now: std::sync::Mutex::new(start),
            slept: Default::default(),
        };
        let pacer = Pacer::per_second(20);
        for _ in 0..3 {
            pacer.turn(&clock).await;
        }
        let ms = |n| Duration::from_millis(n);
        assert_eq!(*clock.slept.lock().unwrap(), [ms(50), ms(100)]);
        // 3 a second: a third of a second, rounded up, never less.
        assert_eq!(
            Pacer::per_second(3).interval,
            chrono::Duration::microseconds(333_334)
        );
        // Long after the last turn: no wait.
        *clock.now.lock().unwrap() = start + chrono::Duration::seconds(1);
        pacer.turn(&clock).await;
        assert_eq!(clock.slept.lock().unwrap().len(), 2);
    }
}
