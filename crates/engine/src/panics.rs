//! Panics: one target's panic stays in that target's check, and what a panic says never reaches
//! a log.
//!
//! The release build unwinds (`panic = "unwind"` in `Cargo.toml`), so a panic in one target's
//! check is caught at that target's boundary ([`contained`], used by
//! [`crate::rotation::Engine::check`]) and reported as that target's failure while the other
//! targets are checked. A panic that unwinds out of a rotation leaves what a killed process
//! leaves (the crash matrix covers that); the per-target lock is released on the way out.
//!
//! Rust's default hook prints a panic's message to stderr, which is the function's log; the
//! message may hold anything the code formatted. [`install_hook`] replaces it with one that logs
//! only where the panic happened and which target was being checked.

use futures_util::FutureExt;
use std::cell::RefCell;
use std::future::Future;
use std::panic::AssertUnwindSafe;

tokio::task_local! {
    /// The target whose check the current task is running, for the hook's log line.
    static SCOPE: String;
}

thread_local! {
    /// Where the last panic on this thread happened (set by the hook, taken by [`contained`]).
    static LAST_LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A panic caught by [`contained`]. Its message is dropped unread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Panicked {
    /// `file:line` of the panic, when the hook of [`install_hook`] saw it.
    pub location: Option<String>,
}

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the rotator panicked")?;
        if let Some(at) = &self.location {
            write!(f, " at {at}")?;
        }
        write!(
            f,
            " (a bug; its message is withheld because it may hold anything)"
        )
    }
}

/// Runs `work` for `scope` (a target's secret id, or what the work is), catching a panic that
/// unwinds out of it instead of letting it take down the task and every other target with it.
pub async fn contained<F: Future>(scope: &str, work: F) -> Result<F::Output, Panicked> {
    LAST_LOCATION.with(|l| l.borrow_mut().take());
    let caught = SCOPE
        .scope(scope.to_string(), AssertUnwindSafe(work).catch_unwind())
        .await;
    // The hook ran on this thread, in the same poll that caught the panic.
    caught.map_err(|_message| Panicked {
        location: LAST_LOCATION.with(|l| l.borrow_mut().take()),
    })
}

/// Replaces the process's panic hook with one that logs (at error level) where a panic happened
/// and which target's check it hit, never its message. Call it once at start.
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        let _ = LAST_LOCATION.try_with(|l| *l.borrow_mut() = location.clone());
        let scope = SCOPE.try_with(Clone::clone).ok();
        tracing::error!(
            scope = scope.as_deref().unwrap_or("-"),
            location = location.as_deref().unwrap_or("unknown"),
            "the rotator panicked (a bug); its message is withheld because it may hold anything"
        );
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_is_caught_and_work_that_does_not_panic_is_returned() {
        assert_eq!(contained("t", async { 7 }).await, Ok(7));
        let caught = contained("t", async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
        })
        .await;
        let e = caught.unwrap_err();
        assert!(!e.to_string().contains("boom"), "{e}");
    }
}
