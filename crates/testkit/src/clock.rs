//! The manual clock: virtual time for tests, `demo` and `sim`; beside the engine's clock items.

use chrono::{DateTime, Utc};
pub use rotator_engine::clock::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// Real time, run faster: `now` moves `factor` times as fast as the system clock and `sleep(d)`
/// lasts `d / factor`. For benchmarks of long runs (a 15-minute invocation in 45 s): concurrent
/// waits overlap as they do in real time, where a [`ManualClock`] adds them up.
#[derive(Debug, Clone)]
pub struct ScaledClock {
    start: DateTime<Utc>,
    real_start: std::time::Instant,
    factor: u32,
}

impl ScaledClock {
    /// A clock that reads `start` now and runs `factor` (at least 1) times as fast as real time.
    pub fn new(start: DateTime<Utc>, factor: u32) -> Self {
        Self {
            start,
            real_start: std::time::Instant::now(),
            factor: factor.max(1),
        }
    }
    /// The real time that lasts `d` on this clock.
    pub fn real(&self, d: Duration) -> Duration {
        d / self.factor
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.real_start.elapsed() * self.factor;
        self.start + chrono::Duration::from_std(elapsed).expect("duration in range")
    }
    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(self.real(d)))
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

    #[tokio::test(start_paused = true)]
    async fn a_scaled_clock_sleeps_a_fraction_of_the_time_it_reports() {
        let start = Utc::now();
        let c = ScaledClock::new(start, 20);
        let before = tokio::time::Instant::now();
        c.sleep(Duration::from_secs(60)).await;
        assert_eq!(before.elapsed(), Duration::from_secs(3), "tokio time slept");
        assert_eq!(c.real(Duration::from_secs(900)), Duration::from_secs(45));
        assert!(c.now() >= start);
    }
}
