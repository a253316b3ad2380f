//! Settling a failed step: what it leaves behind, the same whichever driver runs the rotation
//! (a rollback where one is needed, Jamf Pro put back for a retry, or nothing), and the state in
//! a sentence for the alert ([`Settled`], beside the rollback's report in [`super::rollback`]).

use super::rollback::{is_pending_refused, may_hold_new, rollback_state, Settled};
use super::{Driver, Engine, ErrorKind, RotationError, Step, StepContext};
use crate::ports::AlertKind;

impl Engine {
    /// What a failed step leaves behind, the same whoever drives the rotation: a rollback where
    /// one is needed, and the state in a sentence. A finishSecret refused by the stages or by a
    /// vanished new credential means another attempt undid the rotation after Jamf Pro got the
    /// new secret: the rollback looks where things stand and gives Jamf Pro `AWSCURRENT`'s
    /// secret back. Any other finishSecret failure leaves a consistent state (Jamf Pro and
    /// `AWSPENDING` on the new, verified secret, both valid) that the next attempt completes.
    pub async fn settle(&self, ctx: &StepContext, e: &RotationError) -> Settled {
        let undone = e.step == Step::FinishSecret && e.kind.undone_elsewhere();
        let not_rolled_back = |state: String| Settled {
            alert: AlertKind::RotationFailed,
            state,
            rollback: None,
        };
        let next = match ctx.driver {
            Driver::InProcess => "The next run",
            Driver::SecretsManager => "Secrets Manager's retry, or the next check,",
        };
        if is_pending_refused(&e.kind) {
            // AWSPENDING was not written by a rotation: nothing of it is acted on, not even
            // undone (its key id and app are as untrusted as the rest).
            return not_rolled_back("Nothing was changed: the pending document was refused, and the rotation stays as it was (Jamf Pro on AWSCURRENT's secret unless an earlier step changed it).".into());
        }
        if let ErrorKind::Busy { until } = &e.kind {
            return not_rolled_back(format!("Nothing more was changed by this attempt: another one holds the rotation's lease (until {}) and carries on with it.", until.format("%Y-%m-%d %H:%M:%S UTC")));
        }
        if matches!(e.kind, ErrorKind::Stale) {
            return not_rolled_back(
                "This attempt stopped: another attempt held the target meanwhile. What this one left (a pending rotation, an unstored credential) is resumed or swept by the next check."
                    .into(),
            );
        }
        match e.step {
            Step::FinishSecret if !undone => not_rolled_back(format!("Jamf Pro holds the new secret (verified); the old credential is still valid. {next} completes the rotation.")),
            Step::CreateSecret if matches!(e.kind, ErrorKind::TokenSpent(_)) => {
                not_rolled_back("Secrets Manager and Jamf Pro were not changed.".into())
            }
            // A step event's createSecret may be Secrets Manager's retry of a rotation whose
            // setSecret already ran: nothing is undone, the rotation is resumed later.
            Step::CreateSecret if ctx.driver == Driver::SecretsManager => not_rolled_back(format!("Nothing was undone: AWSPENDING and the new credential (if one was stored) are kept, and Jamf Pro may already hold it. {next} resumes the rotation.")),
            // Secrets Manager retries the whole rotation with the same token, from createSecret,
            // and needs AWSPENDING where it was: only Jamf Pro is put back on AWSCURRENT's
            // secret; the new credential stays, stored in AWSPENDING, for the retry.
            Step::SetSecret | Step::TestSecret if ctx.driver == Driver::SecretsManager && !undone => {
                self.keep_for_retry(ctx, e, next).await
            }
            Step::SetSecret | Step::TestSecret | Step::CreateSecret | Step::FinishSecret => {
                // Undone elsewhere: Jamf Pro was written in setSecret.
                let rb = self.undo(ctx, undone || may_hold_new(ctx, e)).await;
                Settled {
                    alert: if rb.complete {
                        AlertKind::RolledBack
                    } else {
                        AlertKind::RotationFailed
                    },
                    state: rollback_state(&rb),
                    rollback: Some(rb),
                }
            }
            _ => not_rolled_back("Nothing was changed.".into()),
        }
    }

    /// What a failed setSecret or testSecret of a rotation Secrets Manager drives leaves for its
    /// retry: Jamf Pro back on `AWSCURRENT`'s secret (when it may hold the new one), `AWSPENDING`
    /// and the new credential kept.
    async fn keep_for_retry(&self, ctx: &StepContext, e: &RotationError, next: &str) -> Settled {
        let jamf = if !may_hold_new(ctx, e) {
            "Jamf Pro was not changed and keeps the old secret, which still works.".to_string()
        } else {
            match self.lease(Step::Rollback, ctx).await {
                Err(held) => {
                    format!("Jamf Pro is left to the attempt that holds the target now ({held}).")
                }
                Ok(()) => match self.restore_jamf(ctx).await {
                    Ok(()) => "The old secret was put back into Jamf Pro.".to_string(),
                    Err(re) => format!(
                        "Jamf Pro may hold the new secret: putting the old one back failed ({re})."
                    ),
                },
            }
        };
        Settled {
            alert: AlertKind::RotationFailed,
            state: format!("{jamf} AWSPENDING and the new credential are kept (both valid): {next} resumes the rotation."),
            rollback: None,
        }
    }

    /// What a step event refused by the guard leaves behind (its version is no longer pending:
    /// another attempt undid or replaced the rotation). An earlier step of this rotation may have
    /// put its secret into Jamf Pro, and whoever undid it may not have known: Jamf Pro is given
    /// `AWSCURRENT`'s secret again, and nothing is removed (what the version holds is left to the
    /// orphan sweep). `None` when the token names no version of ours (a stray event): nothing
    /// changes.
    pub async fn settle_refused(&self, ctx: &StepContext) -> Option<Settled> {
        let step = Step::Rollback;
        let ours = match self.store.value(&ctx.secret_id, &ctx.token).await {
            Ok(Some(v)) => {
                crate::document::TargetDocument::parse(secrecy::ExposeSecret::expose_secret(&v))
                    .is_ok_and(|d| d.rotation.as_ref().is_some_and(|r| r.token == ctx.token))
            }
            _ => false,
        };
        if !ours {
            return None;
        }
        if let Err(e) = self.lease(step, ctx).await {
            return Some(Settled {
                alert: AlertKind::RotationFailed,
                state: format!("This rotation is no longer in progress, and another attempt holds the target now ({e}): Jamf Pro is left to it."),
                rollback: None,
            });
        }
        let state = match self.restore_jamf(ctx).await {
            Ok(()) => {
                self.note(step, "the rotation was undone elsewhere; Jamf Pro holds AWSCURRENT's secret again");
                "This rotation was undone by another attempt; Jamf Pro was given the secret AWSCURRENT holds again. Nothing was removed.".to_string()
            }
            Err(e) => format!("This rotation was undone by another attempt, and Jamf Pro may hold its removed secret: putting AWSCURRENT's secret back failed ({e}). Run the check now."),
        };
        Some(Settled {
            alert: AlertKind::RotationFailed,
            state,
            rollback: None,
        })
    }
}
