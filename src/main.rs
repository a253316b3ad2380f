//! The `jamf-entra-rotator` command line: parses input, builds clients, calls the library, prints
//! (readable progress, or one JSON object with `--json`), and maps errors to exit codes
//! ([`exit`]: 0 ok, 1 needs attention, 2 bad input or configuration, 3 could not run).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use rotator_adapters::wiring;
use rotator_engine::config::{Cloud, Settings};
use rotator_engine::document::TargetKind;
use rotator_engine::fleet::Targets;

mod ack;
mod bind;
mod discover;
mod exit;
mod fresh;
mod progress;
mod retire;
mod rotate;
mod setup;
#[cfg(feature = "sim")]
mod sim_fleet;
mod status;
use exit::BadInput;
use progress::Terminal;
use serde::Serialize;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "jamf-entra-rotator",
    version,
    about = "Keeps Jamf Pro's Microsoft Entra ID client secrets from expiring.",
    after_help = exit::TABLE
)]
struct Cli {
    /// Print one JSON object instead of readable progress.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A full rotation against built-in stand-ins of Entra and Jamf Pro; nothing to install.
    #[cfg(feature = "sim")]
    Demo {
        /// Which Jamf integration to rotate.
        #[arg(long, value_parser = jamf_target_kind(), default_value = "smtp-graph")]
        target: TargetKind,
        /// Seconds the Entra stand-in takes to accept a new secret.
        #[arg(long, default_value_t = 2)]
        propagation_lag: u64,
    },
    /// Names the Jamf Pro server a Jamf credentials secret belongs to (adds "jamf_url" in a new
    /// version): the rotator sends those credentials only there.
    BindCredentials {
        /// The Jamf credentials secret (name or ARN).
        #[arg(long)]
        secret_id: String,
        /// The Jamf Pro server the credentials belong to (https; its origin is stored).
        #[arg(long)]
        jamf_url: String,
    },
    /// Writes a target's document into Secrets Manager. The current client secret is read from
    /// the environment variable JER_CLIENT_SECRET or, with --secret-stdin, from standard input;
    /// with --fresh, a new one is made, written into Jamf Pro and tested there first.
    Init(Box<InitArgs>),
    /// Removes one client secret from a target's app (e.g. the one Jamf Pro used before
    /// `init --fresh`). Refuses the one the target holds, and one the rotator did not make for
    /// this target unless --yes.
    Retire {
        /// The target's secret id (name or ARN).
        #[arg(long)]
        secret_id: String,
        /// Key id of the credential to remove.
        #[arg(long)]
        key_id: String,
        /// Remove it although the rotator did not make it for this target.
        #[arg(long)]
        yes: bool,
    },
    /// Acknowledges a target's drift: the check stops alerting on that same drift (a new
    /// finding alerts again). Tags the target's secret; writes no secret version.
    AckDrift {
        /// The target's secret id (name or ARN).
        #[arg(long)]
        secret_id: String,
        /// The drift's digest, from the drift alert; without it, a read-only check finds the
        /// drift now (which needs the rotator's sign-in to Entra).
        #[arg(long)]
        drift: Option<String>,
    },
    /// Read-only report of every target (a table, or --json): days left, last rotation, state,
    /// drift. Exits 1 when any target needs attention (inside the threshold, expired, its check
    /// failed, or drift to look at).
    Status {
        /// Target secret ids (repeatable; default: TARGET_SECRET_IDS, comma-separated, or the tag).
        #[arg(long)]
        secret_id: Vec<String>,
    },
    /// The scheduled check: rotates the targets whose secret is due.
    Check {
        /// Target secret ids (repeatable; default: TARGET_SECRET_IDS, comma-separated, or the tag).
        #[arg(long)]
        secret_id: Vec<String>,
        /// Report only; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rotates a target's secret now (emergency: a leaked secret); --dry-run says what it would
    /// do and changes nothing.
    Rotate(Box<rotate::RotateArgs>),
    /// Runs the stand-ins as servers and prints their URLs (for a local trial).
    #[cfg(feature = "sim")]
    Sim {
        /// Also write a target document (and its Jamf and rotator credentials) under this name into
        /// Secrets Manager (AWS_ENDPOINT_URL, e.g. a moto server), so `rotate` works against it.
        #[arg(long)]
        seed_secret_id: Option<String>,
        /// Which Jamf integration the seeded target uses.
        #[arg(long, value_parser = jamf_target_kind(), default_value = "smtp-graph")]
        target: TargetKind,
        /// With --seed-secret-id: this many more targets, none due, each its own app, written
        /// as `<seed>/fleet/<i>` and tagged `jamf-entra-rotator-sim-fleet=<seed>` (benchmarks).
        #[arg(long, default_value_t = 0, requires = "seed_secret_id")]
        fleet: usize,
        /// Milliseconds the stand-ins hold every answer (network and server latency).
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
    },
    /// Read-only onboarding: reads which Entra apps a Jamf Pro server uses (mail through Graph,
    /// the Intune integration), lists each app's client secrets as the rotator sees them in
    /// Graph, says what the rotator cannot see, and prints the `init` command of each integration
    /// no target manages yet. Changes nothing and signs in with none of the apps' secrets.
    Discover(Box<DiscoverArgs>),
    /// conditional-access: logs in to Jamf Pro's web UI and shows the Intune form a rotation would
    /// submit (secrets redacted) and whether its application ID matches. Changes nothing.
    Probe {
        /// The target's secret id (name or ARN).
        #[arg(long)]
        secret_id: String,
    },
}

#[derive(clap::Args)]
struct InitArgs {
    /// Name of the Secrets Manager secret to write.
    #[arg(long)]
    secret_id: String,
    /// Jamf Pro's base URL (https).
    #[arg(long)]
    jamf_url: url::Url,
    /// Which Jamf integration holds the secret.
    #[arg(long, value_parser = jamf_target_kind())]
    target: TargetKind,
    /// Secret id of the Jamf credentials ({"client_id","client_secret"} or {"username","password"}).
    #[arg(long)]
    jamf_credentials_secret_id: String,
    /// Entra tenant id or verified domain.
    #[arg(long)]
    tenant_id: String,
    /// Application (client) id Jamf Pro uses.
    #[arg(long)]
    client_id: String,
    /// Application object id (looked up when absent).
    #[arg(long)]
    application_object_id: Option<String>,
    /// Microsoft cloud.
    #[arg(long, default_value = "global")]
    cloud: Cloud,
    /// Key id of the current secret (looked up by its hint when absent).
    #[arg(long)]
    key_id: Option<String>,
    /// smtp-graph: recipient of the test mail.
    #[arg(long)]
    test_recipient: Option<String>,
    /// Have the daily check run Jamf Pro's own test (the SMTP test mail; conditional-access: the
    /// integration's notifications) and put AWSCURRENT's secret back when Jamf Pro's was refused.
    #[arg(long)]
    daily_proof: bool,
    /// Read the client secret from standard input instead of JER_CLIENT_SECRET.
    #[arg(long)]
    secret_stdin: bool,
    /// Replace an existing document.
    #[arg(long)]
    overwrite: bool,
    /// Encrypt the new secret with this customer managed KMS key (key id, ARN or alias; the
    /// template's KmsKeyArn must be the same key).
    #[arg(long)]
    kms_key_id: Option<String>,
    /// Configure Secrets Manager rotation on the secret with this function (the deployed
    /// rotator's ARN) as its rotation function; no automatic schedule unless
    /// --rotation-schedule is given.
    #[arg(long)]
    rotation_function_arn: Option<String>,
    /// With --rotation-function-arn: Secrets Manager's automatic schedule, `rate(30 days)` or
    /// `cron(…)`.
    #[arg(long)]
    rotation_schedule: Option<String>,
    /// Onboard without the current secret: make a new one on the app, wait until Entra accepts
    /// it, write it into Jamf Pro, run Jamf Pro's test, and only then store the document. The
    /// old credential stays on the app (retire it with `retire`).
    #[arg(long, conflicts_with_all = ["secret_stdin", "key_id"])]
    fresh: bool,
    /// Tag key that makes the secret a target (default: TARGET_TAG_KEY, or
    /// jamf-entra-rotator:target with --tag-value).
    #[arg(long)]
    tag_key: Option<String>,
    /// Tag value (default: TARGET_TAG_VALUE; the template's is the stack's name).
    #[arg(long)]
    tag_value: Option<String>,
}

/// The tag key the template's targets carry.
const TARGET_TAG_KEY: &str = "jamf-entra-rotator:target";

impl InitArgs {
    /// The target tag `init` puts on the secret: the flags, else the deployment's
    /// (`TARGET_TAG_KEY`, `TARGET_TAG_VALUE`), else none (targets by ARN).
    fn tag(&self) -> Result<Option<(String, String)>, BadInput> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let value = self.tag_value.clone().or_else(|| env("TARGET_TAG_VALUE"));
        let key = self.tag_key.clone().or_else(|| env("TARGET_TAG_KEY"));
        match (key, value) {
            (None, None) => Ok(None),
            (Some(key), Some(value)) => Ok(Some((key, value))),
            (None, Some(value)) => Ok(Some((TARGET_TAG_KEY.to_string(), value))),
            (Some(key), None) => Err(BadInput(format!(
                "the target tag {key} needs a value: pass --tag-value (the template's TargetTagValue, by default the stack's name) or set TARGET_TAG_VALUE"
            ))),
        }
    }
}

#[derive(clap::Args)]
struct DiscoverArgs {
    /// Jamf Pro's base URL (https; plain http only to loopback).
    #[arg(long)]
    jamf_url: url::Url,
    /// Secret id of Jamf API credentials ({"client_id","client_secret"}: Read SMTP Server; or a
    /// user account {"username","password"}, which also opens the Conditional Access page).
    #[arg(long)]
    jamf_credentials_secret_id: Option<String>,
    /// Secret id of the Jamf user account that reads the Conditional Access settings page.
    #[arg(long)]
    jamf_ui_credentials_secret_id: Option<String>,
    /// Microsoft cloud of the apps.
    #[arg(long, default_value = "global")]
    cloud: Cloud,
    /// The deployment's target secrets, to tell which integrations are managed (repeatable;
    /// default: TARGET_SECRET_IDS, comma-separated, or the target tag; neither: "unknown").
    #[arg(long)]
    secret_id: Vec<String>,
}

/// `--target`: the Jamf target kinds the engine declares ([`TargetKind::ALL`] but the rotator's
/// own secret), by their document names.
fn jamf_target_kind() -> impl clap::builder::TypedValueParser<Value = TargetKind> {
    use clap::builder::TypedValueParser as _;
    let names = TargetKind::ALL
        .into_iter()
        .filter(|k| k.is_jamf())
        .map(TargetKind::as_str);
    clap::builder::PossibleValuesParser::new(names).map(|name| {
        TargetKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .expect("a name the parser offered")
    })
}

fn main() -> ExitCode {
    let json = std::env::args_os().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version are not failures; clap exits 2 for the rest.
        Err(e) if !json || !e.use_stderr() => e.exit(),
        Err(e) => return fail(BadInput(clap_message(&e)).into(), true),
    };
    init_logging();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => fail(e, json),
    }
}

/// The first line of clap's error, without its `error: ` (the usage lines are for a person).
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    first.strip_prefix("error: ").unwrap_or(first).to_string()
}

/// Reports a failed command on stderr (and as one JSON object on stdout with `--json`) and
/// returns its exit code.
fn fail(error: anyhow::Error, json: bool) -> ExitCode {
    eprintln!("error: {error:#}");
    if json {
        println!("{}", exit::error_object(&error));
    }
    ExitCode::from(exit::classify(&error).code())
}

fn init_logging() {
    // Logs go to stderr, quiet by default (progress lines say what happens); RUST_LOG=info shows more.
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    // A panic's message never reaches stderr (it may hold anything); see `panics`.
    rotator_engine::panics::install_hook();
}

async fn run(cli: Cli) -> Result<ExitCode> {
    let json = cli.json;
    let terminal = Terminal::for_stderr(json);
    let progress = terminal.step_lines();
    match cli.command {
        #[cfg(feature = "sim")]
        Command::Demo {
            target,
            propagation_lag,
        } => {
            if !json {
                eprintln!("demo: rotating a secret that expires in 10 days, against built-in stand-ins of Entra ID and Jamf Pro");
            }
            let report = rotator_testkit::demo::run(rotator_testkit::demo::DemoOptions {
                target,
                propagation_lag: std::time::Duration::from_secs(propagation_lag),
                progress,
                settings: Settings::from_env()?,
            })
            .await?;
            let rotated = rotator_engine::rotation::report::Outcome::Rotated;
            let ok = report.rotation.outcome == rotated && report.jamf_secret_works;
            if json {
                print_json(&report)?;
            } else {
                print!("{}", rotate::describe_rotation(&report.rotation));
                println!(
                    "Jamf Pro's secret works at Entra afterwards: {}",
                    report.jamf_secret_works
                );
            }
            Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Init(args) => init(*args, json).await,
        Command::Retire {
            secret_id,
            key_id,
            yes,
        } => {
            let w = wiring::from_settings(Settings::from_env()?).await?;
            let retired = retire::retire(&w.engine, &secret_id, &key_id, yes).await?;
            if json {
                print_json(&retired)?;
            } else {
                println!(
                    "removed credential {} from {}'s app",
                    retired.key_id, retired.secret_id
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::AckDrift { secret_id, drift } => ack_drift(&secret_id, drift, json).await,
        Command::BindCredentials {
            secret_id,
            jamf_url,
        } => {
            let bound = bind::run(&Settings::from_env()?, &secret_id, &jamf_url)
                .await
                .map_err(|e| BadInput(e.to_string()))?;
            if json {
                print_json(&bound)?;
            } else {
                println!("{} {}: {}", bound.action, bound.secret_id, bound.jamf_url);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { secret_id } => {
            let targets = targets_or(secret_id)?;
            let w = wiring::from_settings(Settings::from_env()?).await?;
            let ids = deployment_ids(&targets, &w).await?;
            let status = status::check(&w, &ids, true, false).await;
            if json {
                print_json(&status.report)?;
            } else {
                print!("{}", status::table(&status.report));
            }
            Ok(status.status_exit())
        }
        Command::Check { secret_id, dry_run } => {
            // The same target settings as the Lambda (TARGET_SECRET_IDS or the target tag).
            let targets = targets_or(secret_id)?;
            let mut w = wiring::from_settings(Settings::from_env()?).await?;
            if let Some(p) = progress {
                w.engine = w.engine.with_progress(p);
            }
            w.engine = w.engine.with_wait_progress(terminal.clone());
            let ids = deployment_ids(&targets, &w).await?;
            let checked = status::check(&w, &ids, dry_run, !json).await;
            if json {
                print_json(&checked.report)?;
            }
            Ok(checked.check_exit())
        }
        Command::Rotate(args) => rotate::run(*args, json, &terminal).await,
        #[cfg(feature = "sim")]
        Command::Sim {
            seed_secret_id,
            target,
            fleet,
            latency_ms,
        } => {
            let fleet = setup::SimFleet {
                targets: fleet,
                latency: std::time::Duration::from_millis(latency_ms),
            };
            setup::run_sim(seed_secret_id, target, fleet, json).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Discover(args) => {
            let settings = Settings::from_env()?;
            let targets = discover::deployment_targets(&settings, args.secret_id).await;
            let request = discover::DiscoverRequest {
                jamf_url: args.jamf_url,
                jamf_credentials_secret_id: args.jamf_credentials_secret_id,
                jamf_ui_credentials_secret_id: args.jamf_ui_credentials_secret_id,
                cloud: args.cloud,
                targets,
            };
            let found = discover::discover(&settings, request, !json).await?;
            if json {
                print_json(&found)?;
            } else {
                print!("{}", discover::describe(&found));
            }
            let unreachable = (found.unreachable > 0).then_some(exit::Kind::Unavailable);
            Ok(exit::of_targets(found.problems > 0, unreachable))
        }
        Command::Probe { secret_id } => {
            use rotator_adapters::jamf::conditional_access::{describe_probe, probe_from_env};
            let report = probe_from_env(&Settings::from_env()?, &secret_id).await?;
            if json {
                print_json(&report)?;
            } else {
                print!("{}", describe_probe(&report));
            }
            Ok(if report.application_id_matches {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

async fn init(args: InitArgs, json: bool) -> Result<ExitCode> {
    // Checked before anything is read or written.
    let rotation = setup::RotationConfig::parse(
        args.rotation_function_arn.as_deref(),
        args.rotation_schedule.as_deref(),
    )
    .map_err(|e| anyhow::Error::new(BadInput(e.to_string())))?;
    let tag = args.tag()?;
    if args.fresh {
        return init_fresh(args, tag, rotation, json).await;
    }
    let secret = if args.secret_stdin {
        let mut s = String::new();
        std::io::stdin()
            .read_line(&mut s)
            .context("reading the client secret from standard input")?;
        s.trim().to_string()
    } else {
        std::env::var("JER_CLIENT_SECRET").map_err(|_| {
            BadInput(
                "set JER_CLIENT_SECRET to the current client secret, or pass --secret-stdin".into(),
            )
        })?
    };
    let settings = Settings::from_env()?;
    let request = init_request(args, secrecy::SecretString::from(secret), tag, rotation);
    let outcome = setup::init(&settings, request).await?;
    print_init(&outcome, json)?;
    Ok(ExitCode::SUCCESS)
}

/// `init --fresh` ([`fresh`]): through the rotator's own Entra sign-in and Jamf Pro access.
async fn init_fresh(
    args: InitArgs,
    tag: Option<(String, String)>,
    rotation: Option<setup::RotationConfig>,
    json: bool,
) -> Result<ExitCode> {
    let settings = Settings::from_env()?;
    let mut w = wiring::from_settings(settings.clone()).await?;
    // The propagation wait may take minutes: shown as it goes, as for `rotate`.
    let terminal = Terminal::for_stderr(json);
    w.engine = w.engine.with_wait_progress(terminal.clone());
    if !json {
        terminal.line("init --fresh: a new client secret on the app, proven at Entra, written into Jamf Pro and tested there, then stored");
    }
    let store = setup::aws_store(&settings).await;
    // No current secret: the document gets the new one.
    let placeholder = secrecy::SecretString::from(String::new());
    let request = init_request(args, placeholder, tag, rotation);
    let outcome = fresh::init_fresh(&settings, &w.engine, &store, request).await?;
    print_init(&outcome, json)?;
    Ok(ExitCode::SUCCESS)
}

/// `ack-drift`: the digest given, or the one a read-only check finds now.
async fn ack_drift(secret_id: &str, drift: Option<String>, json: bool) -> Result<ExitCode> {
    let settings = Settings::from_env()?;
    let acked = match drift {
        Some(digest) => {
            let digest = ack::parse_digest(&digest)?;
            let store = setup::aws_store(&settings).await;
            ack::acknowledge(&store, secret_id, Some(digest), Vec::new()).await?
        }
        None => {
            let w = wiring::from_settings(settings).await?;
            let report = w.engine.check(secret_id, true).await?;
            let (digest, findings) = ack::of_report(&report);
            ack::acknowledge(w.store.as_ref(), secret_id, digest, findings).await?
        }
    };
    if json {
        print_json(&acked)?;
    } else {
        match &acked.drift {
            Some(d) => println!("acknowledged drift {d} of {secret_id}: the check alerts on it no more (a new finding alerts)"),
            None => println!("{secret_id} has no drift to acknowledge; nothing was changed"),
        }
        for f in &acked.findings {
            println!("  {f}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn init_request(
    args: InitArgs,
    client_secret: secrecy::SecretString,
    tag: Option<(String, String)>,
    rotation: Option<setup::RotationConfig>,
) -> setup::InitRequest {
    setup::InitRequest {
        secret_id: args.secret_id,
        jamf_url: args.jamf_url,
        target: args.target,
        jamf_credentials_secret_id: args.jamf_credentials_secret_id,
        tenant_id: args.tenant_id,
        client_id: args.client_id,
        application_object_id: args.application_object_id,
        cloud: args.cloud,
        key_id: args.key_id,
        test_recipient: args.test_recipient,
        daily_proof: args.daily_proof,
        client_secret,
        overwrite: args.overwrite,
        kms_key_id: args.kms_key_id,
        rotation,
        tag,
    }
}

fn print_init(outcome: &setup::InitOutcome, json: bool) -> Result<()> {
    if json {
        print_json(outcome)?;
    } else {
        println!(
            "{} document for {} (key id {}, expires {})",
            outcome.action,
            outcome.secret_id,
            outcome.key_id.as_deref().unwrap_or("unknown"),
            outcome
                .expires_at
                .map(|e| e.to_rfc3339())
                .unwrap_or_else(|| "unknown".into())
        );
        if let Some(r) = &outcome.rotation {
            println!(
                "Secrets Manager rotation: function {}, {}",
                r.function_arn,
                r.schedule
                    .as_deref()
                    .map_or("no automatic schedule".to_string(), |s| format!(
                        "schedule {s}"
                    ))
            );
        }
        if let Some(tag) = &outcome.tag {
            println!("tagged {tag}: a target of the deployment that lists this tag");
        }
    }
    Ok(())
}

/// The targets named on the command line, else the deployment's (`TARGET_SECRET_IDS` or the
/// target tag).
fn targets_or(secret_ids: Vec<String>) -> Result<Targets> {
    if secret_ids.is_empty() {
        let targets =
            Targets::from_env().map_err(|e| BadInput(format!("{e}; or pass --secret-id")))?;
        Ok(targets)
    } else {
        Ok(Targets::Ids(secret_ids))
    }
}

/// The secret ids `targets` names now, and the rotator's own credential secret once (read by
/// `from_settings` already: no second read here).
async fn deployment_ids(targets: &Targets, w: &wiring::Wiring) -> Result<Vec<String>> {
    let own = w.own_secret.as_deref();
    Ok(targets.resolve_with_own(w.store.as_ref(), own).await?)
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}
