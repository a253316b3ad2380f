//! The bounded check of many targets ([`FleetCheck::run`]): at most so many read and so many
//! rotating at once, within a deadline, one target's failure or panic kept to that target. The
//! Lambda's `check` and `status` and the CLI's `check` and `status` all run it.

use super::admission::Admission;
use super::report::TargetFailure;
use crate::clock::Pacer;
use crate::config::RotationMode;
use crate::rotation::check::{CheckOptions, CheckReport};
use crate::rotation::Engine;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

/// How a check of many targets runs.
#[derive(Debug, Clone)]
pub struct FleetCheck {
    /// Read only: change nothing, alert nothing (the status report).
    pub dry_run: bool,
    /// When the invocation must be over (`None`: no limit, as in the CLI): no rotation starts
    /// that cannot finish before it; it is handed to Secrets Manager or deferred.
    pub deadline: Option<DateTime<Utc>>,
    /// How due rotations run (`ROTATION_MODE`).
    pub mode: RotationMode,
    /// The rotation function Secrets Manager invokes for a rotation handed to it; without it
    /// nothing is handed off.
    pub rotation_function_arn: Option<String>,
    /// Targets read at once.
    pub reads_at_once: usize,
    /// Targets rotating in process at once (each also takes one of the reads).
    pub rotations_at_once: usize,
    /// At most this many hand-offs to Secrets Manager per second (`None`: no spacing).
    pub hand_offs_per_second: Option<u32>,
    /// The documents each target may hold.
    pub admission: Admission,
}

impl FleetCheck {
    /// A check without a deadline or hand-offs (`dry_run`: the status report), reading
    /// `reads_at_once` targets and rotating `rotations_at_once` at once.
    pub fn unlimited(dry_run: bool, reads_at_once: usize, rotations_at_once: usize) -> Self {
        Self {
            dry_run,
            deadline: None,
            mode: RotationMode::default(),
            rotation_function_arn: None,
            reads_at_once,
            rotations_at_once,
            hand_offs_per_second: None,
            admission: Admission::default(),
        }
    }

    /// The engine's options for each target's check.
    fn options(&self) -> CheckOptions {
        CheckOptions {
            dry_run: self.dry_run,
            deadline: self.deadline,
            mode: self.mode,
            rotation_function_arn: self.rotation_function_arn.clone(),
            rotation_slots: Some(Arc::new(Semaphore::new(self.rotations_at_once.max(1)))),
            hand_off_pacer: (self.hand_offs_per_second).map(|n| Arc::new(Pacer::per_second(n))),
        }
    }

    /// Checks each of `ids` with `engine`, at most [`Self::reads_at_once`] at once, and hands
    /// each target's end to `each` as it comes (its progress line, its metrics); returns what
    /// `each` made of them, in the order of `ids`. A task is spawned only when one ends, so a
    /// fleet of thousands never holds thousands of pending checks in memory.
    pub async fn run<T, F, Fut>(&self, engine: &Engine, ids: &[String], mut each: F) -> Vec<T>
    where
        F: FnMut(String, Result<CheckReport, TargetFailure>) -> Fut,
        Fut: Future<Output = T>,
    {
        let options = Arc::new(self.options());
        let admission = Arc::new(self.admission.clone());
        let mut results: Vec<Option<T>> = ids.iter().map(|_| None).collect();
        let (mut tasks, mut index_of, mut next) = (JoinSet::new(), HashMap::new(), 0);
        loop {
            while next < ids.len() && tasks.len() < self.reads_at_once.max(1) {
                let (engine, id) = (engine.clone(), ids[next].clone());
                let (options, admission) = (options.clone(), admission.clone());
                // The task keeps the caller's span, so its log lines carry the request id.
                let check = async move { admission.check(&engine, &id, &options).await };
                let handle = tasks.spawn(check.instrument(tracing::Span::current()));
                index_of.insert(handle.id(), next);
                next += 1;
            }
            let Some(joined) = tasks.join_next_with_id().await else {
                break;
            };
            let task = joined.as_ref().map_or_else(|e| e.id(), |(task, _)| *task);
            let i = index_of
                .remove(&task)
                .expect("every task was spawned with its index");
            let outcome = match joined {
                Ok((_, outcome)) => outcome.map_err(TargetFailure::Failed),
                Err(e) => {
                    let how = if e.is_panic() {
                        "panicked"
                    } else {
                        "was cancelled"
                    };
                    tracing::error!(step = "check", "check of {} {how}", ids[i]);
                    Err(TargetFailure::Crashed)
                }
            };
            results[i] = Some(each(ids[i].clone(), outcome).await);
        }
        (results.into_iter())
            .map(|r| r.expect("every target was checked"))
            .collect()
    }
}
