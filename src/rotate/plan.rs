//! `rotate --dry-run`: what a rotation would do, read without changing anything (the target's
//! check report, read-only, and for a lockdown the deployment's other targets on the same app).

use anyhow::Result;
use chrono::{DateTime, Utc};
use rotator_engine::rotation::check::{CheckReport, CredentialView};
use rotator_engine::rotation::drift::DriftKind;
use rotator_engine::rotation::{is_ours_for, target_tag, Engine, RotateRequest, Step};
use serde::Serialize;

/// What a rotation would do, read without changing anything.
#[derive(Debug, Serialize)]
pub struct Plan {
    /// Always true: nothing was changed.
    pub dry_run: bool,
    /// The target's secret id.
    pub secret_id: String,
    /// Jamf host and target kind.
    pub target: String,
    /// The current credential's key id.
    pub key_id: Option<String>,
    /// When it expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Whole days until then.
    pub days_until_expiry: Option<i64>,
    /// The threshold the scheduled check applies.
    pub threshold_days: i64,
    /// True when the scheduled check would rotate it anyway.
    pub due: bool,
    /// The old secret goes as soon as the new one is verified (`--revoke-old immediately`,
    /// `--lockdown`).
    pub emergency: bool,
    /// `--lockdown`.
    pub lockdown: bool,
    /// The deployment's other targets on the same app, rotated too by a lockdown.
    pub siblings: Vec<String>,
    /// The credentials it would remove, and when.
    pub removes: Vec<Removal>,
    /// Why the rotation would not run, when it would not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
}

/// A credential a rotation would remove.
#[derive(Debug, Serialize)]
pub struct Removal {
    /// Its key id.
    pub key_id: String,
    /// Its display name.
    pub display_name: Option<String>,
    /// Whose it is and when it would go.
    pub why: String,
}

/// Reads `secret_id` (its check report, read-only) and the lockdown's `candidates`, and says
/// what `request` would do.
pub async fn plan(
    engine: &Engine,
    secret_id: &str,
    request: &RotateRequest,
    candidates: &[String],
) -> Result<Plan> {
    let report = engine.check(secret_id, true).await?;
    let mut plan = Plan {
        dry_run: true,
        secret_id: secret_id.to_string(),
        target: report.target.clone(),
        key_id: report.key_id.clone(),
        expires_at: report.expires_at,
        days_until_expiry: report.days_until_expiry,
        threshold_days: report.threshold_days,
        due: report.due,
        emergency: request.is_emergency(),
        lockdown: request.lockdown,
        siblings: Vec::new(),
        removes: Vec::new(),
        refused: refusal(engine, &report, request),
    };
    if request.lockdown {
        let siblings = siblings(engine, secret_id, candidates).await;
        lockdown_removals(&mut plan, &report, siblings);
    } else if let Some(managed) = report.credentials.iter().find(|c| c.managed) {
        let when = retirement(engine, plan.emergency);
        plan.removes.push(removal(
            managed,
            format!("this target's current secret, {when}"),
        ));
    }
    Ok(plan)
}

/// When the old credential of a rotation goes.
fn retirement(engine: &Engine, emergency: bool) -> String {
    let policy = &engine.policy;
    if emergency {
        "as soon as the new secret is verified in Jamf Pro".into()
    } else if policy.retire_after_observed_use {
        "once Entra sees Jamf Pro sign in with the new secret (RETIRE_AFTER_OBSERVED_USE)".into()
    } else if policy.retire_grace > chrono::Duration::zero() {
        format!(
            "{} hours after the new secret is verified in Jamf Pro (RETIRE_GRACE_HOURS)",
            policy.retire_grace.num_hours()
        )
    } else {
        "once the new secret is verified in Jamf Pro".into()
    }
}

/// Why the rotation would not run now.
fn refusal(engine: &Engine, report: &CheckReport, request: &RotateRequest) -> Option<String> {
    if let Some(until) = report.rotation_in_progress_until {
        return Some(format!(
            "another attempt holds this target's rotation until {}",
            until.format("%Y-%m-%d %H:%M:%S UTC")
        ));
    }
    let retiring = report
        .drift
        .iter()
        .any(|d| d.kind == DriftKind::RetirePending);
    (retiring && engine.policy.retire_after_observed_use && !request.is_emergency()).then(|| {
        "the last rotation's old credential is still pending retirement; only an emergency \
         rotation (--revoke-old immediately) runs now"
            .into()
    })
}

/// A sibling: the deployment's other target on the same app, its tag and its current key id;
/// or why a candidate could not be read (the lockdown would refuse).
type Sibling = Result<(String, String, Option<String>), String>;

/// The `candidates` (other than `secret_id`) whose documents name the same app.
async fn siblings(engine: &Engine, secret_id: &str, candidates: &[String]) -> Vec<Sibling> {
    let Ok((_, mine)) = engine.current(Step::Check, secret_id).await else {
        return Vec::new();
    };
    let my_arn = engine.store.describe(secret_id).await.map(|i| i.arn).ok();
    let mut out = Vec::new();
    for id in candidates {
        let read = async {
            let info = engine.store.describe(id).await.map_err(|e| e.to_string())?;
            let (_, theirs) = engine
                .current(Step::Check, id)
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((info.arn, theirs))
        };
        match read.await {
            Ok((arn, _)) if Some(&arn) == my_arn.as_ref() => {}
            Ok((arn, theirs))
                if theirs
                    .entra
                    .client_id
                    .eq_ignore_ascii_case(&mine.entra.client_id)
                    && theirs
                        .entra
                        .tenant_id
                        .eq_ignore_ascii_case(&mine.entra.tenant_id) =>
            {
                out.push(Ok((id.clone(), target_tag(&arn), theirs.entra.key_id)));
            }
            Ok(_) => {}
            Err(e) => out.push(Err(format!(
                "the deployment's target {id} cannot be read ({e}), so it cannot be told apart \
                 from a sibling"
            ))),
        }
    }
    out
}

/// A lockdown removes every credential of the app once the new secret works: this target's,
/// its siblings' (each rotated too), and those no target manages. One the rotator made for a
/// target the deployment does not list refuses it.
fn lockdown_removals(plan: &mut Plan, report: &CheckReport, siblings: Vec<Sibling>) {
    let mut known = Vec::new();
    for sibling in siblings {
        match sibling {
            Ok(s) => known.push(s),
            Err(why) => plan.refused = plan.refused.take().or(Some(why)),
        }
    }
    plan.siblings = known.iter().map(|(id, _, _)| id.clone()).collect();
    let mut unknown = Vec::new();
    for c in &report.credentials {
        let name = c.display_name.as_deref();
        let sibling = known.iter().find(|(_, tag, key)| {
            key.as_deref()
                .is_some_and(|k| k.eq_ignore_ascii_case(&c.key_id))
                || is_ours_for(name, tag)
        });
        let why = match sibling {
            _ if c.managed => {
                "this target's current secret, as soon as the new one is verified".to_string()
            }
            Some((id, _, _)) => format!(
                "of sibling {id}, by its own rotation (the lockdown rotates it too), once its \
                 new secret is verified"
            ),
            None if c.ours => {
                unknown.push(c.key_id.clone());
                "made by the rotator for a target this deployment does not list".to_string()
            }
            None => "no target of this deployment manages it; removed once the new secret is \
                     verified"
                .to_string(),
        };
        plan.removes.push(removal(c, why));
    }
    if !unknown.is_empty() && plan.refused.is_none() {
        plan.refused = Some(format!(
            "the app holds credentials the rotator made for targets this deployment does not \
             list ({}): add those targets to TARGET_SECRET_IDS (or the target tag) so the \
             lockdown rotates them too",
            unknown.join(", ")
        ));
    }
}

fn removal(c: &CredentialView, why: String) -> Removal {
    Removal {
        key_id: c.key_id.clone(),
        display_name: c.display_name.clone(),
        why,
    }
}

/// The plan as text for a person.
pub fn describe_plan(p: &Plan) -> String {
    let day = |t: Option<DateTime<Utc>>| t.map_or("-".into(), |t| t.format("%Y-%m-%d").to_string());
    let mut out = format!(
        "{} ({}): dry run, nothing was changed\n",
        p.secret_id, p.target
    );
    out += &format!(
        "  current key id   {} (expires {}, {} days; due: {}, threshold {} days)\n",
        p.key_id.as_deref().unwrap_or("-"),
        day(p.expires_at),
        p.days_until_expiry.map_or("-".into(), |d| d.to_string()),
        if p.due { "yes" } else { "no" },
        p.threshold_days
    );
    let kind = match (p.lockdown, p.emergency) {
        (true, _) => "a lockdown: a new secret, then every other client secret of the app goes",
        (false, true) => "an emergency rotation: the old secret goes as soon as the new one works",
        (false, false) => "a rotation: a new secret, verified in Jamf Pro before the old one goes",
    };
    out += &format!("  would run        {kind}\n");
    for s in &p.siblings {
        out += &format!("  sibling          {s} (on the same app: rotated too)\n");
    }
    for r in &p.removes {
        let name = r.display_name.as_deref().unwrap_or("-");
        out += &format!("  would remove     {} \"{name}\": {}\n", r.key_id, r.why);
    }
    if p.removes.is_empty() {
        out += "  would remove     nothing\n";
    }
    if let Some(why) = &p.refused {
        out += &format!("  would refuse     {why}\n");
    }
    out
}
