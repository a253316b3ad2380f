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
