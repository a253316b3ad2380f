//! The injected clock. Everything that reads the time ("is this secret due?", "has it
//! propagated?") or waits (polling, backoff, `Retry-After`) goes through a [`Clock`], so tests run
//! on virtual time: [`ManualClock::sleep`] advances the clock instead of waiting, and no test ever
//! sleeps for real.

use chrono::{DateTime, Utc};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
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

/// A virtual clock: reads what it was set to, and `sleep` moves it forward at once.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl ManualClock {
    /// A clock that reads `start` until advanced.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(start)))
    }
    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().expect("clock lock");
        *t += chrono::Duration::from_std(by).expect("duration in range");
    }
    /// Sets the clock.
    pub fn set(&self, to: DateTime<Utc>) {
        *self.0.lock().expect("clock lock") = to;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock lock")
    }
    fn sleep(&self, d: Duration) -> Sleep {
        self.advance(d);
        // Yield so that other tasks (stand-ins, a racing rotation) get to run.
        Box::pin(tokio::task::yield_now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_sleeps_in_virtual_time() {
        let start = Utc::now();
        let c = ManualClock::new(start);
        c.sleep(Duration::from_secs(30)).await;
        assert_eq!(c.now() - start, chrono::Duration::seconds(30));
    }
}
