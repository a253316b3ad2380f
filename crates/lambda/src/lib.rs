//! The Lambda function's routing: one entry point, [`route`], for every event the deployed
//! function receives (see [`event::Event`]):
//!
//! - `{"action":"check"}` (EventBridge Scheduler) or a classic `Scheduled Event`: the scheduled
//!   check of every target, with bounded parallelism; one failing target never stops the others.
//! - `{"action":"status"}`: the same, read-only (a dry run); nothing changes, nothing alerts.
//! - `{"action":"rotate", ...}`: a rotation by hand (emergency: `"revoke_old":"immediately"`).
//! - Secrets Manager step events: one step of a rotation that `rotate-secret` drives.
//!
//! The binary (`src/bin/bootstrap.rs`, the deployed `bootstrap`) reads its settings at init and builds the clients at the
//! first invocation ([`Deferred`]), then calls [`route`]; tests call it directly with the files in
//! `events/`.

mod admit;
mod check;
mod deferred;
pub mod error;
pub mod event;
mod function;
mod rotate;
mod step;

pub use check::HAND_OFFS_PER_SECOND;
pub use deferred::Deferred;
pub use error::LambdaError;
pub use event::{Event, RotateEvent, StepEvent};
pub use function::{
    Function, Invocation, MetricSink, DEFAULT_LOOK_PARALLELISM, DEFAULT_PARALLELISM,
    FULL_RESPONSE_TARGETS,
};
/// The deployment's targets, as [`Function::new`] takes them ([`rotator_engine::fleet`]).
pub use rotator_engine::fleet::Targets;

use serde_json::Value;

/// Handles one invocation without a deadline: parses the event, runs what it asks, returns the
/// response. An event that is not understood is refused before anything runs.
pub async fn route(function: &Function, event: Value) -> Result<Value, LambdaError> {
    route_within(function, event, &Invocation::default()).await
}

/// [`route`] within `invocation`: a check starts no rotation it cannot finish before the
/// deadline, and may hand rotations to Secrets Manager with the invoked function as their
/// rotation function (`ROTATION_MODE`).
pub async fn route_within(
    function: &Function,
    event: Value,
    invocation: &Invocation,
) -> Result<Value, LambdaError> {
    let event = Event::parse(&event)?;
    dispatch_refreshed(function, event, invocation).await
}

/// Runs `event` on `function`, or, with self-rotation, on the function with the rotator's
/// identity read afresh (see [`Function::refreshed`]).
async fn dispatch_refreshed(
    function: &Function,
    event: Event,
    invocation: &Invocation,
) -> Result<Value, LambdaError> {
    let refreshed = function.refreshed().await?;
    refreshed
        .as_ref()
        .unwrap_or(function)
        .dispatch(event, invocation)
        .await
}
