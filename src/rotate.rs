//! `rotate`: a rotation now (emergency: a leaked secret), with the safety an operator needs.
//! `--dry-run` reads the target and says what a rotation would do (which credentials it would
//! remove, and when) and changes nothing; `--lockdown` asks for the target's name (or `yes`) on
//! a terminal, and without one runs only with `--yes`. The reason is recorded as `manual`, or
//! `manual: <reason>` when one is given.

use crate::exit::BadInput;
use crate::progress::Terminal;
use anyhow::Result;
use chrono::{DateTime, Utc};
use rotator_adapters::wiring;
use rotator_engine::config::Settings;
use rotator_engine::document::RevokeOld;
use rotator_engine::rotation::check::{CheckReport, CredentialView, DriftKind};
use rotator_engine::rotation::driver::{Outcome, RotationReport};
use rotator_engine::rotation::{is_ours_for, target_tag, Engine, RotateRequest, Step};
use serde::Serialize;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

/// `rotate`'s flags.
#[derive(clap::Args)]
pub struct RotateArgs {
    /// The target's secret id (name or ARN).
    #[arg(long)]
    secret_id: String,
    /// Why (recorded in the document and alerts as `manual: <reason>`; without it, `manual`).
    #[arg(long)]
    reason: Option<String>,
    /// When the old secret is removed.
    #[arg(long, value_enum, default_value_t = Revoke::AfterVerification)]
    revoke_old: Revoke,
    /// Also remove every other client secret of the app once the new one works; the
    /// deployment's other targets on the same app (TARGET_SECRET_IDS or the target tag) are
    /// rotated too rather than cut off. Asks for confirmation (the target's name, or `yes`).
    #[arg(long)]
    lockdown: bool,
    /// Say what the rotation would do (the credentials it would remove, and when); change
    /// nothing.
    #[arg(long)]
    dry_run: bool,
    /// Confirm `--lockdown` without asking (scripts; needed when standard input is not a
    /// terminal).
    #[arg(long)]
    yes: bool,
}

/// `--revoke-old`.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Revoke {
    /// Once Jamf Pro is verified with the new secret (after any retirement grace period).
    AfterVerification,
    /// As soon as the new secret is verified, whatever a grace period would keep.
    Immediately,
}

/// The reason a manual rotation records.
pub fn recorded_reason(given: Option<&str>) -> String {
    match given.map(str::trim) {
        None | Some("") | Some("manual") => "manual".into(),
        Some(reason) => format!("manual: {reason}"),
    }
}

/// Runs `rotate`: exit 0 when the rotation completed (or a dry run reported), 1 when it failed.
pub async fn run(args: RotateArgs, json: bool, terminal: &Arc<Terminal>) -> Result<ExitCode> {
    let stdin_is_terminal = std::io::stdin().is_terminal();
    // Refused before anything is read.
    if args.lockdown && !args.dry_run && !args.yes && !stdin_is_terminal {
        return Err(BadInput(format!(
            "--lockdown removes every other client secret of {}'s app and must be confirmed: run \
             it on a terminal, or pass --yes. Nothing was changed.",
            args.secret_id
        ))
        .into());
    }
    let mut w = wiring::from_settings(Settings::from_env()?).await?;
    if let Some(p) = terminal.step_lines() {
        w.engine = w.engine.with_progress(p);
    }
    w.engine = w.engine.with_wait_progress(terminal.clone());
    let request = RotateRequest {
        reason: recorded_reason(args.reason.as_deref()),
        revoke_old: match args.revoke_old {
            Revoke::AfterVerification => RevokeOld::AfterVerification,
            Revoke::Immediately => RevokeOld::Immediately,
        },
        lockdown: args.lockdown,
        siblings: Vec::new(),
    };
    // A lockdown rotates the deployment's other targets on the same app registration too: the
    // same target settings as `check` (TARGET_SECRET_IDS or the target tag).
    let candidates = match rotator_lambda::Targets::from_env() {
        Ok(targets) if args.lockdown => targets.resolve(w.store.as_ref()).await?,
        _ => Vec::new(),
    };
    if args.dry_run || (args.lockdown && !args.yes) {
        let plan = plan(&w.engine, &args.secret_id, &request, &candidates).await?;
        if args.dry_run {
            print(json, &plan, describe_plan)?;
            return Ok(ExitCode::SUCCESS);
        }
        eprint!("{}", describe_plan(&plan));
        let mut stdin = std::io::stdin().lock();
        confirm_lockdown(&args.secret_id, &mut stdin, &mut std::io::stderr())?;
    }
    let request = RotateRequest {
        siblings: candidates,
        ..request
    };
    let report = w.engine.rotate(&args.secret_id, request).await?;
    print(json, &report, describe_rotation)?;
    let completed = matches!(
        report.outcome,
        Outcome::Rotated | Outcome::Resumed | Outcome::AlreadyRotated
    );
    Ok(ExitCode::from(if completed { 0 } else { 1 }))
}

fn print<T: Serialize>(json: bool, value: &T, text: fn(&T) -> String) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string(value)?);
    } else {
        print!("{}", text(value));
    }
    Ok(())
}

/// Asks for the lockdown of `secret_id` to be confirmed: the target's name or `yes`.
pub fn confirm_lockdown(
    secret_id: &str,
    input: &mut impl BufRead,
    prompt: &mut impl Write,
) -> Result<(), BadInput> {
    let _ = write!(
        prompt,
        "Lockdown: every client secret of the app listed above is removed once the new one works. \
         Type the target's name ({secret_id}) or yes to go on: "
    );
    let _ = prompt.flush();
    let mut answer = String::new();
    let _ = input.read_line(&mut answer);
    let answer = answer.trim();
    if answer == secret_id || answer.eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(BadInput(
            "the lockdown was not confirmed; nothing was changed".into(),
        ))
    }
}

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

/// A rotation's report as text for a person.
pub fn describe_rotation(r: &RotationReport) -> String {
    let outcome = serde_json::to_value(r.outcome).unwrap_or_default();
    let mut out = format!(
        "{}: {}\n",
        r.secret_id,
        outcome.as_str().unwrap_or_default()
    );
    out += &format!("  target           {}\n", r.target);
    let removed = if r.old_removed { " (removed)" } else { "" };
    out += &format!(
        "  old key id       {}{removed}\n",
        r.old_key_id.as_deref().unwrap_or("-")
    );
    out += &format!(
        "  new key id       {}\n",
        r.new_key_id.as_deref().unwrap_or("-")
    );
    let tested = if r.jamf_accepts_new { "ok" } else { "no" };
    out += &format!("  Jamf Pro tested  {tested}\n");
    if let Some(n) = r.app_credentials {
        out += &format!("  app credentials  {n}\n");
    }
    for p in r.revocation.iter().flatten() {
        out += &match p.seconds {
            Some(s) if p.confirmed => format!(
                "  revocation       Entra refuses the revoked secret ({s}s after its removal)\n"
            ),
            _ => format!(
                "  revocation       UNCONFIRMED: {}\n",
                p.detail.as_deref().unwrap_or("-")
            ),
        };
    }
    out += &format!("  elapsed          {:.1}s\n", r.elapsed_ms as f64 / 1000.0);
    if let Some(e) = &r.error {
        out += &format!("  error            {e}\n");
    }
    if let Some(a) = &r.advice {
        out += &format!("  what to do       {a}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_reason_is_manual_and_a_given_one_follows_it() {
        assert_eq!(recorded_reason(None), "manual");
        assert_eq!(recorded_reason(Some("manual")), "manual");
        assert_eq!(recorded_reason(Some("leaked")), "manual: leaked");
    }

    #[test]
    fn a_lockdown_goes_on_with_the_target_name_or_yes_and_nothing_else() {
        let ask = |answer: &str| {
            let mut prompt = Vec::new();
            let result = confirm_lockdown("jamf/prod", &mut answer.as_bytes(), &mut prompt);
            (result.is_ok(), String::from_utf8(prompt).unwrap())
        };
        let (ok, prompt) = ask("jamf/prod\n");
        assert!(ok);
        assert!(
            prompt.contains("Type the target's name (jamf/prod) or yes"),
            "{prompt}"
        );
        assert!(ask("YES\n").0);
        assert!(!ask("y\n").0);
        assert!(!ask("jamf/test\n").0);
        assert!(!ask("").0, "end of input is no");
    }
}
