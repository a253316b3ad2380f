//! The propagation wait tells its progress observer (`ports::Progress`) of each poll: what it
//! waits for, how long it has waited and the limit. The CLI draws its bar (or a line every 30 s)
//! from it, the Lambda logs from it.

use crate::common::spawn_world_on_memory;
use rotator_engine::ports::Progress;
use rotator_engine::rotation::propagation::WAITING_FOR;
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::RotateRequest;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Records every call.
#[derive(Default)]
struct Recorder {
    polls: Mutex<Vec<(String, Duration, Duration)>>,
    finished: Mutex<Vec<String>>,
}

impl Progress for Recorder {
    fn waiting(&self, what: &str, elapsed: Duration, limit: Duration) {
        self.polls
            .lock()
            .unwrap()
            .push((what.to_string(), elapsed, limit));
    }
    fn finished(&self, what: &str) {
        self.finished.lock().unwrap().push(what.to_string());
    }
}

#[tokio::test]
async fn the_propagation_wait_reports_each_poll_with_the_time_waited_and_the_limit() {
    let (w, _store) = spawn_world_on_memory(10).await;
    w.entra.set_propagation_lag(Duration::from_secs(45));
    let recorder = Arc::new(Recorder::default());
    let engine = w.engine.clone().with_wait_progress(recorder.clone());

    let report = engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert_eq!(report.outcome, Outcome::Rotated, "{:?}", report.error);
    let polls = recorder.polls.lock().unwrap().clone();
    let limit = w.engine.policy.propagation_timeout;
    assert!(polls.len() >= 4, "one call per poll: {polls:?}");
    assert!(
        polls
            .iter()
            .all(|(what, _, l)| what == WAITING_FOR && *l == limit),
        "{polls:?}"
    );
    let elapsed: Vec<u64> = polls.iter().map(|(_, e, _)| e.as_secs()).collect();
    assert_eq!(elapsed[0], 0, "the first poll is at once: {elapsed:?}");
    assert!(elapsed.windows(2).all(|p| p[0] <= p[1]), "{elapsed:?}");
    assert!(
        *elapsed.last().unwrap() >= 45,
        "the accepting poll came after the lag: {elapsed:?}"
    );
    assert_eq!(
        *recorder.finished.lock().unwrap(),
        [WAITING_FOR],
        "ended once"
    );
}

#[tokio::test]
async fn a_propagation_wait_that_times_out_still_ends_its_progress() {
    let (w, _store) = spawn_world_on_memory(10).await;
    w.entra.set_propagation_lag(Duration::from_secs(100_000));
    let recorder = Arc::new(Recorder::default());
    let engine = w.engine.clone().with_wait_progress(recorder.clone());

    let report = engine
        .rotate(&w.secret_id, RotateRequest::default())
        .await
        .unwrap();

    assert_eq!(report.outcome, Outcome::RolledBack);
    let polls = recorder.polls.lock().unwrap().clone();
    let (_, last, limit) = polls.last().unwrap();
    assert!(last <= limit, "never past the limit: {last:?} of {limit:?}");
    assert!(
        *last + Duration::from_secs(20) >= *limit,
        "waited up to it: {last:?}"
    );
    assert_eq!(recorder.finished.lock().unwrap().len(), 1);
}
