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
