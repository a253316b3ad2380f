//! The operator's machine in the default (federated) deployment: `template.yaml` deployed on
//! moto as the rehearsal does, then the operator CLI run with exactly the deployed function's
//! environment, taken the documented way (`eval "$(scripts/operator-env --stack NAME)"`, its
//! `aws` answering with what moto holds), plus only where AWS and Microsoft are. It signs in to
//! Entra federated through the STS stand-in as an operator role, which Entra trusts through the
//! operator's own federated credential (`scripts/setup-azure --operator-role-arn`), beside the
//! function's: the function's credential alone lets the operator in nowhere (AADSTS700213).
//! Then `status`, `discover`, `init`'s verification and `rotate --lockdown --yes` work.

use crate::common::moto;
use crate::emulator;
use crate::rehearsal;
use crate::scripts::{path_with, stand_ins};
use rotator_testkit::sts::StsSim;
use secrecy::ExposeSecret;
use serde_json::Value;
use std::path::PathBuf;

/// The operator CLI next to this test binary (`target/<profile>/jamf-entra-rotator`): built by
/// `cargo test --workspace` (scripts/test) with the rest of the workspace.
fn cli_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("jamf-entra-rotator");
    assert!(
        bin.is_file(),
        "{} is not built: run the workspace's tests (bash scripts/test), which build it",
        bin.display()
    );
    bin
}

/// One run of the CLI: exit code, stdout, stderr.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "not one JSON object ({e}): {}\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The operator's shell: the deployed settings from `scripts/operator-env --stack STACK` (its
/// `aws` the stand-ins in `tools`), then the CLI. `overlay` is where AWS and Microsoft are and
/// the operator's own AWS credentials.
struct Operator {
    tools: PathBuf,
    stack: String,
    overlay: Vec<(&'static str, String)>,
}

impl Operator {
    /// The CLI with `args`, and `extra` in the environment (what a command itself needs).
    async fn cli(&self, extra: &[(&str, String)], args: &[&str]) -> Run {
        let repo = moto::repo_root();
        let out = tokio::process::Command::new("bash")
            .arg("-c")
            .arg(r#"eval "$("$JER_REPO/scripts/operator-env" --stack "$0")" && exec "$JER_CLI" "$@""#)
            .arg(&self.stack)
            .args(args)
            .env_clear()
            .env("PATH", path_with(&self.tools))
            .env("JER_REPO", &repo)
            .env("JER_CLI", cli_binary())
            .envs(self.overlay.iter().map(|(k, v)| (k, v)))
            .envs(extra.iter().map(|(k, v)| (k, v)))
            .output()
            .await
            .expect("bash runs");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_cli_signs_in_as_its_own_role_with_the_deployed_configuration() {
    let python = rehearsal::python();
    // Not due: `status` has nothing to report but the target.
    let w = emulator::world(90).await;
    let (stack, function) = (moto::unique("operator"), moto::unique("rotator"));
    let function_role = format!("arn:aws:iam::{}:role/{stack}-rotator", moto::ACCOUNT);
    let operator_role = format!("arn:aws:iam::{}:role/jer-operators", moto::ACCOUNT);
    // The operator signs in to AWS as the operator role: STS names it in every token.
    let sts = StsSim::start(w.world.clock.clone()).await;
    sts.set_role_arn(&operator_role);
    let aud = ["api://AzureADTokenExchange"];
    w.entra
        .add_federated_credential(&w.rotator_client_id, &sts.issuer(), &function_role, &aud);
    w.entra
        .trust_issuer_key(&sts.issuer(), sts.kid(), sts.public_key_pem());
    let target = w.store.describe(&w.secret_id).await.unwrap().arn;
    let jamf = w.store.describe(&w.jamf_credentials_id).await.unwrap().arn;
    let recipient = w.settings.smtp_test_recipient.clone().unwrap();
    let deployed = rehearsal::deploy(
        &python,
        &stack,
        &[
            ("FunctionName", &function),
            ("TargetSecretArns", &target),
            ("JamfCredentialsSecretArns", &jamf),
            ("RotatorClientId", &w.rotator_client_id),
            ("SmtpTestRecipient", &recipient),
            ("PropagationSuccesses", "1"),
        ],
    )
    .await;
    let deployed_env = rehearsal::strings(&deployed["environment"]);
    assert_eq!(deployed_env["ROTATOR_AUTH"], "federated");

    // scripts/operator-env's `aws`: the stack's FunctionName output, and the function's
    // environment as moto holds it.
    let env_file = std::env::temp_dir().join(format!("{}.json", moto::unique("env")));
    std::fs::write(&env_file, deployed["environment"].to_string()).unwrap();
    let aws = format!(
        r#"case "$*" in
  "cloudformation describe-stacks --stack-name {stack} --region {region} "*) echo {function} ;;
  "lambda get-function-configuration --function-name {function} --region {region} --query Environment.Variables --output json") cat '{file}' ;;
  *) echo "unexpected aws $*" >&2; exit 97 ;;
esac"#,
        region = moto::REGION,
        file = env_file.display()
    );
    let tools = stand_ins(&[("aws", aws.as_str())]);
    let entra = w.entra.url().to_string();
    let overlay: Vec<(&'static str, String)> = vec![
        ("AWS_REGION", moto::REGION.into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_ENDPOINT_URL", moto::endpoint().await),
        ("AWS_ENDPOINT_URL_STS", sts.url()),
        ("ENTRA_LOGIN_URL", entra.clone()),
        ("GRAPH_URL", entra),
        // The stand-ins answer over loopback http.
        ("ALLOW_LOOPBACK_HTTP", "true".into()),
    ];
    for (k, _) in &overlay {
        assert!(
            !deployed_env.contains_key(*k),
            "the test overrides the deployed {k}"
        );
    }
    let op = Operator {
        tools: tools.clone(),
        stack: stack.clone(),
        overlay,
    };

    // Only the function's credential: the operator's token is refused (the issue's AADSTS700213).
    let refused = op.cli(&[], &["status", "--json"]).await;
    // A target its check could not sign in for is that target's failure (docs/CLI.md): 1.
    assert_eq!(refused.code, Some(1), "{}", refused.stderr);
    assert!(refused.stdout.contains("700213"), "{}", refused.stdout);

    // scripts/setup-azure --operator-role-arn: the operator's own credential, beside the function's.
    w.entra
        .add_federated_credential(&w.rotator_client_id, &sts.issuer(), &operator_role, &aud);

    let status = op.cli(&[], &["status", "--json"]).await;
    assert_eq!(status.code, Some(0), "{}", status.stderr);
    let report = status.json();
    assert_eq!(report["targets"], 1, "{report:#}");
    assert!(
        status.stdout.contains(&target),
        "the deployed target (TARGET_SECRET_IDS): {report:#}"
    );

    let jamf_url = w.jamf.url().to_string();
    let discover = op
        .cli(
            &[],
            &[
                "discover",
                "--json",
                "--jamf-url",
                &jamf_url,
                "--jamf-credentials-secret-id",
                &jamf,
            ],
        )
        .await;
    assert_eq!(discover.code, Some(0), "{}", discover.stderr);
    let found = discover.json();
    let smtp = found["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["client_id"] == w.app.client_id.as_str())
        .unwrap_or_else(|| panic!("the Jamf Pro app is found: {found:#}"));
    assert_eq!(smtp["app"]["visible"], true, "{found:#}");
    assert_eq!(smtp["managed"], "yes", "{found:#}");
    assert_eq!(smtp["managed_by"][0], target.as_str(), "{found:#}");

    // init's Entra verification: the key id found by the secret's hint, through Graph.
    let second = moto::unique("operator-init");
    let current = w.secrets[0].expose_secret().to_string();
    let init = op
        .cli(
            &[("JER_CLIENT_SECRET", current)],
            &[
                "init",
                "--json",
                "--secret-id",
                &second,
                "--jamf-url",
                &jamf_url,
                "--target",
                "smtp-graph",
                "--jamf-credentials-secret-id",
                &jamf,
                "--tenant-id",
                rotator_testkit::world::TENANT_ID,
                "--client-id",
                &w.app.client_id,
                "--test-recipient",
                &recipient,
            ],
        )
        .await;
    assert_eq!(init.code, Some(0), "{}", init.stderr);
    assert_eq!(init.json()["key_id"], w.initial_key_id.as_str());

    let lockdown = op
        .cli(
            &[],
            &[
                "rotate",
                "--json",
                "--secret-id",
                &target,
                "--lockdown",
                "--yes",
                "--reason",
                "operator drill",
            ],
        )
        .await;
    assert_eq!(lockdown.code, Some(0), "{}", lockdown.stderr);
    assert_eq!(lockdown.json()["outcome"], "rotated", "{}", lockdown.stdout);
    let left = w.entra.passwords(&w.app.object_id);
    assert_eq!(left.len(), 1, "a lockdown leaves only the new secret");
    assert_ne!(left[0].key_id, w.initial_key_id);

    assert!(
        sts.requests() >= 4,
        "every command signed in through STS, as the operator role"
    );
    let _ = std::fs::remove_file(&env_file);
    let _ = std::fs::remove_dir_all(&tools);
    for run in [&refused, &status, &discover, &init, &lockdown] {
        w.assert_no_leaks(&[&run.stdout, &run.stderr]);
    }
}
