//! `rotate`: a rotation now (emergency: a leaked secret), with the safety an operator needs.
//! `--dry-run` reads the target and says what a rotation would do (which credentials it would
//! remove, and when) and changes nothing; `--lockdown` asks for the target's name (or `yes`) on
//! a terminal, and without one runs only with `--yes`. The reason is recorded as `manual`, or
//! `manual: <reason>` when one is given.

mod plan;

use crate::exit::BadInput;
use crate::progress::Terminal;
use anyhow::Result;
use plan::{describe_plan, plan};
use rotator_adapters::wiring;
use rotator_engine::config::Settings;
use rotator_engine::document::RevokeOld;
use rotator_engine::rotation::report::RotationReport;
use rotator_engine::rotation::RotateRequest;
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
    let candidates = match rotator_engine::fleet::Targets::from_env() {
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
    let completed = report.outcome.succeeded();
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
