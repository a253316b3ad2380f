//! `demo`: a full rotation against the stand-ins and the in-memory store, with nothing to install
//! and no cloud account: the scheduled check finds the secret due and rotates it.

use super::world::{spawn_world, WorldOptions};
use crate::clock::{SharedClock, SystemClock};
use crate::config::Settings;
use crate::document::TargetKind;
use crate::memory_store::MemoryStore;
use crate::rotation::report::RotationReport;
use crate::rotation::{ProgressFn, RotationError};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// What to demonstrate.
pub struct DemoOptions {
    /// Which Jamf integration.
    pub target: TargetKind,
    /// How long the Entra stand-in takes to accept a new secret (real Entra: 4 to 18 s).
    pub propagation_lag: Duration,
    /// Receives each step as it happens.
    pub progress: Option<ProgressFn>,
    /// Settings (from the environment); endpoints and identities are replaced by the stand-ins'.
    pub settings: Settings,
}

/// The demo's result: the rotation report, plus what the stand-ins say afterwards.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    /// The rotation.
    #[serde(flatten)]
    pub rotation: RotationReport,
    /// Days until expiry the check found before rotating.
    pub days_until_expiry_before: Option<i64>,
    /// Checked at the stand-ins afterwards: Jamf Pro holds the new secret and Entra accepts it.
    pub jamf_secret_works: bool,
    /// Alerts raised.
    pub alerts: usize,
}

/// Why the demo could not run.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Occurs when seeding the store fails.
    #[error("setting up the demo: {0}")]
    Setup(#[from] crate::ports::StoreError),
    /// Occurs when the check itself fails.
    #[error(transparent)]
    Rotation(#[from] RotationError),
    /// Occurs when the check did not rotate.
    #[error("the check did not rotate the secret")]
    NotRotated,
}

/// Runs the demo.
pub async fn run(opts: DemoOptions) -> Result<DemoReport, DemoError> {
    let clock: SharedClock = Arc::new(SystemClock);
    let store = Arc::new(MemoryStore::new());
    let mut wo = WorldOptions::new(clock, store, "jamf-entra-rotator/demo");
    wo.target = opts.target;
    // The demo runs on the system clock: watch Jamf's notifications for seconds, not a minute.
    wo.observation_secs = Some(2);
    // The engine's knobs (propagation successes, lifetime, …) follow the environment as in
    // production; the endpoints are the stand-ins'.
    wo.settings = Settings {
        smtp_test_recipient: wo.settings.smtp_test_recipient.clone(),
        ..opts.settings
    };
    let mut world = spawn_world(wo).await?;
    world.entra.set_propagation_lag(opts.propagation_lag);
    if let Some(p) = opts.progress {
        world.engine = world.engine.clone().with_progress(p);
    }
    let report = world.engine.check(&world.secret_id, false).await?;
    let rotation = report.rotation.ok_or(DemoError::NotRotated)?;
    Ok(DemoReport {
        rotation,
        days_until_expiry_before: report.days_until_expiry,
        jamf_secret_works: world.jamf_secret_works(),
        alerts: world.alerts.sent().len(),
    })
}
