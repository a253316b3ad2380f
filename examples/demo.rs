//! The demo: a full rotation against the test kit's stand-ins of Entra ID and Jamf Pro and an
//! in-memory store, with no cloud account. An example, not a command of the operator's CLI, so
//! that the CLI an operator builds never contains the stand-ins.
//!
//!   cargo run --example demo [-- --json] [-- --target conditional-access] [-- --propagation-lag 2]

use clap::Parser;
use rotator_engine::config::Settings;
use rotator_engine::document::TargetKind;
use rotator_engine::rotation::report::Outcome;
use rotator_engine::rotation::{ProgressFn, Step};
use rotator_testkit::demo::{run, DemoOptions};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// A full rotation against built-in stand-ins of Entra and Jamf Pro; nothing to install.
#[derive(Parser)]
struct Args {
    /// Which Jamf integration to rotate: smtp-graph or conditional-access.
    #[arg(long, default_value = "smtp-graph")]
    target: String,
    /// Seconds the Entra stand-in takes to accept a new secret.
    #[arg(long, default_value_t = 2)]
    propagation_lag: u64,
    /// One JSON object on stdout instead of readable progress.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let Some(target) = TargetKind::ALL
        .into_iter()
        .find(|k| k.is_jamf() && k.as_str() == args.target)
    else {
        eprintln!("demo: --target must be smtp-graph or conditional-access");
        return ExitCode::from(2);
    };
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.json {
        eprintln!("demo: rotating a secret that expires in 10 days, against built-in stand-ins of Entra ID and Jamf Pro");
    }
    let progress: Option<ProgressFn> = if args.json {
        None
    } else {
        Some(Arc::new(|step: Step, msg: &str| {
            eprintln!("  {:<13} {msg}", step.as_str())
        }))
    };
    let options = DemoOptions {
        target,
        propagation_lag: Duration::from_secs(args.propagation_lag),
        progress,
        settings,
    };
    match run(options).await {
        Ok(report) => {
            let ok = report.rotation.outcome == Outcome::Rotated && report.jamf_secret_works;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("a report serializes")
                );
            } else {
                let r = &report.rotation;
                println!(
                    "outcome: {:?}; old key {} -> new key {}; old removed: {}",
                    r.outcome,
                    r.old_key_id.as_deref().unwrap_or("-"),
                    r.new_key_id.as_deref().unwrap_or("-"),
                    r.old_removed
                );
                println!(
                    "Jamf Pro's secret works at Entra afterwards: {}",
                    report.jamf_secret_works
                );
            }
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("demo failed: {e}");
            ExitCode::from(3)
        }
    }
}
