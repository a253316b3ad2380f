//! Secrets Manager's side of a rotation, emulated in front of the real `bootstrap` under cargo
//! lambda's emulator: `RotateSecret` (the stub `AWSPENDING` version under a new token), then one
//! invocation per step, as Secrets Manager sends them, with AWS's rule that moto lacks applied on
//! the wire by `sm_proxy.rs` (a new version of the secret during the rotation abandons it). The
//! function's AWS requests all go through that proxy, and its leases live in a lease table on
//! moto, shared by two function processes where invocations overlap.
//!
//! Every scenario ends the same way ([`Emulation::assert_rotated`]): no `RotationAbandoned`, the
//! token's version `AWSCURRENT`, Jamf Pro on a secret Entra accepts, the invariant, no failure
//! metric, and no secret in anything printed.
//!
//! One waits for issue 20 (`#[ignore]`, the reason in it): the goal of at most 16 Secrets Manager
//! requests per rotation.

use crate::common::{moto, TestWorld};
use crate::emulator::{self, Emulated};
use crate::harness::{alert_topic, assert_first_action, event, step_event, text, STEPS};
use crate::sm_proxy::SmProxy;
use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_secretsmanager::types::RotationRulesType;
use rotator_engine::ports::{AWSCURRENT, AWSPENDING};
use rotator_testkit::entra::EntraOp;
use rotator_testkit::jamf::JamfOp;
use serde_json::Value;

/// What a step event that met another invocation's lease answers (`Busy`: in progress elsewhere).
const ELSEWHERE: &str = "holds its lease until";
/// Taking a target's lease: the lease table's conditional `PutItem`.
const LEASE_TAKE: &str = "DynamoDB_20120810.PutItem";

/// The function under Secrets Manager's emulated side.
struct Emulation {
    w: TestWorld,
    proxy: SmProxy,
    f: Emulated,
    /// The target secret's ARN (what Secrets Manager puts in `SecretId`).
    arn: String,
    /// Secrets Manager's API as its callers (console, CLI, schedule) reach it: through the proxy.
    sm: aws_sdk_secretsmanager::Client,
}

/// A world whose target expires in `expires_in_days`, the proxy, a lease table, and `processes`
/// function processes polling one emulator, their AWS requests through the proxy.
async fn emulation(expires_in_days: i64, processes: usize, topic: Option<&str>) -> Emulation {
    let w = emulator::world(expires_in_days).await;
    let proxy = SmProxy::start().await;
    let table = moto::create_lease_table(&moto::dynamodb_client().await).await;
    let url = proxy.url();
    let env = [
        ("AWS_ENDPOINT_URL", url.as_str()),
        ("LEASE_TABLE_NAME", &table),
    ];
    let mut f = emulator::start_with(&w, &[&w.secret_id], topic, &env).await;
    for _ in 1..processes {
        f.add_process(&w, &[&w.secret_id], topic, &env).await;
    }
    let arn = w.store.describe(&w.secret_id).await.unwrap().arn;
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(moto::REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto"))
        .endpoint_url(&url)
        .build();
    let sm = aws_sdk_secretsmanager::Client::from_conf(conf);
    Emulation {
        w,
        proxy,
        f,
        arn,
        sm,
    }
}

/// How a step invocation ended.
#[derive(Debug, PartialEq, Eq)]
enum Said {
    Done,
    /// Another invocation holds the target: not done, nothing failed.
    Elsewhere,
    Failed(String),
}

fn said(step: &str, r: &Value) -> Said {
    let message = r["errorMessage"].as_str().unwrap_or_default();
    match () {
        _ if r["ok"] == true => Said::Done,
        _ if r["errorType"] == "Retryable" && message.contains(ELSEWHERE) => Said::Elsewhere,
        _ => Said::Failed(format!("{step}: {r}")),
    }
}

impl Emulation {
    /// `RotateSecret` as AWS runs it: configured for rotation (function and rules), an empty
    /// version under a new token carrying `AWSPENDING`; returns the token.
    async fn rotate_secret(&self) -> String {
        let rules = RotationRulesType::builder()
            .automatically_after_days(30)
            .build();
        let out = self
            .sm
            .rotate_secret()
            .secret_id(&self.arn)
            .rotation_lambda_arn(moto::rotation_lambda().await)
            .rotation_rules(rules)
            .rotate_immediately(true)
            .send()
            .await
            .expect("RotateSecret");
        out.version_id.expect("RotateSecret names the new version")
    }

    /// One invocation of `step` for `token`, as Secrets Manager sends it.
    async fn step(&self, step: &str, token: &str) -> Value {
        let mut e = step_event(step, &self.w, token);
        e["SecretId"] = self.arn.as_str().into();
        self.f.invoke(&e).await
    }

    /// `steps` in order, one invocation each, stopping at the first that is not done (Secrets
    /// Manager goes on only after a step succeeded). After finishSecret the rotation is over.
    async fn run(&self, token: &str, steps: &[&str]) -> Result<(), Said> {
        for step in steps {
            match said(step, &self.step(step, token).await) {
                Said::Done => {}
                other => return Err(other),
            }
            if *step == "finishSecret" {
                self.proxy.rotation_ended(&self.arn);
            }
        }
        Ok(())
    }

    /// The end every scenario must reach: `token` rotated in, Jamf Pro on its secret, no
    /// failure metric, and what [`Self::assert_safe`] checks.
    async fn assert_rotated(&self, token: &str, captured: &[&str]) {
        let info = self.w.store.describe(&self.w.secret_id).await.unwrap();
        assert_eq!(info.version_with(AWSCURRENT), Some(token), "rotated");
        assert_eq!(info.version_with(AWSPENDING), None, "{info:?}");
        let current = self.w.current_doc().await.entra.client_secret;
        let current = secrecy::ExposeSecret::expose_secret(&current).to_string();
        assert_eq!(self.w.jamf.smtp_secret(), Some(current), "Jamf Pro on it");
        assert_eq!(self.failures(), 0, "no RotationFailed");
        self.assert_safe(captured).await;
    }

    /// What holds whatever happened: no `RotationAbandoned`, Jamf Pro on a secret Entra accepts,
    /// the invariant, and no secret in the function's output or `captured`.
    async fn assert_safe(&self, captured: &[&str]) {
        assert_eq!(self.proxy.abandoned(), vec![], "RotationAbandoned");
        assert!(
            self.w.jamf_secret_works(),
            "Entra accepts Jamf Pro's secret"
        );
        self.w.assert_invariant().await;
        self.f.assert_no_leaks(&self.w, captured);
    }

    /// How many `RotationFailed` metric lines the function printed.
    fn failures(&self) -> usize {
        let metrics = self.f.metrics().into_iter();
        metrics
            .filter(|(name, _, _)| name == "RotationFailed")
            .count()
    }

    /// The version `stage` is on.
    async fn version_with(&self, stage: &str) -> Option<String> {
        let info = self.w.store.describe(&self.w.secret_id).await.unwrap();
        info.version_with(stage).map(str::to_string)
    }

    /// Runs `first` and, while the proxy holds the first answer to it that `held` picks, runs
    /// `meanwhile` (lazy: it starts only then) to its end; returns both answers.
    async fn overlapped(
        &self,
        held: impl Fn(&str) -> bool + Send + 'static,
        first: impl std::future::Future<Output = Value>,
        meanwhile: impl std::future::Future<Output = Value>,
    ) -> (Value, Value) {
        let mut hold = self.proxy.hold_answer(held);
        let meanwhile = async {
            hold.reached().await;
            let answer = meanwhile.await;
            hold.release();
            answer
        };
        tokio::join!(first, meanwhile)
    }

    /// The Secrets Manager requests so far, one line each, for a failure message.
    fn sequence(&self) -> String {
        let calls = self.proxy.calls().into_iter();
        let sm = calls.filter(|c| c.operation.starts_with("secretsmanager."));
        sm.map(|c| c.to_string()).collect::<Vec<_>>().join("\n")
    }
}

#[tokio::test]
async fn a_new_version_written_during_the_rotation_abandons_it_and_its_next_step_is_refused() {
    let e = emulation(300, 1, None).await;
    let token = e.rotate_secret().await;
    e.run(&token, &STEPS[..1]).await.unwrap();
    assert_eq!(
        e.proxy.abandoned(),
        vec![],
        "createSecret's own AWSPENDING write"
    );
    // What the old lease did at each take: a version of the secret with a label of its own.
    let current = e.w.current_doc().await.to_secret();
    let value = secrecy::ExposeSecret::expose_secret(&current).to_string();
    let put =
        e.sm.put_secret_value()
            .secret_id(&e.arn)
            .secret_string(value);
    put.version_stages("LEASE").send().await.unwrap();

    let next = e.step("setSecret", &token).await;

    let abandoned = e.proxy.abandoned();
    assert_eq!(abandoned.len(), 1, "RotationAbandoned: {abandoned:?}");
    assert_eq!(
        (
            abandoned[0].secret_arn.as_str(),
            abandoned[0].token.as_str()
        ),
        (e.arn.as_str(), token.as_str())
    );
    assert_eq!(e.version_with(AWSPENDING).await, None, "AWSPENDING removed");
    assert!(
        matches!(said("setSecret", &next), Said::Failed(_)),
        "{next}"
    );
    assert!(e.w.jamf_secret_works());
    e.f.assert_no_leaks(&e.w, &[&text(&next)]);
}

#[tokio::test]
async fn secrets_manager_rotates_through_four_step_invocations() {
    let e = emulation(300, 1, None).await;
    let token = e.rotate_secret().await;

    let run = e.run(&token, &STEPS).await;

    assert_eq!(run, Ok(()), "{}", e.sequence());
    e.assert_rotated(&token, &[]).await;
}

#[tokio::test]
#[ignore = "issue 20 goal: at most 16 Secrets Manager requests per rotation; the real bootstrap makes about 26 (42 before the one rotation path) when Secrets Manager drives it"]
async fn a_rotation_secrets_manager_drives_makes_at_most_16_secrets_manager_requests() {
    let e = emulation(300, 1, None).await;
    let token = e.rotate_secret().await;
    let before = e.proxy.calls().len();

    e.run(&token, &STEPS).await.unwrap();

    let calls = e.proxy.calls().split_off(before);
    let mut by_operation = std::collections::BTreeMap::<&str, usize>::new();
    for c in &calls {
        *by_operation.entry(c.operation.as_str()).or_default() += 1;
    }
    let sm = calls
        .iter()
        .filter(|c| c.operation.starts_with("secretsmanager."));
    assert!(sm.count() <= 16, "{by_operation:?}");
}

#[tokio::test]
async fn each_step_delivered_twice_in_a_row_rotates_once() {
    let e = emulation(300, 1, None).await;
    let token = e.rotate_secret().await;

    for step in STEPS {
        for delivery in ["first", "second"] {
            let r = e.step(step, &token).await;
            assert_eq!(said(step, &r), Said::Done, "{delivery}: {}", e.sequence());
        }
    }

    assert_eq!(e.w.entra.count(EntraOp::AddPassword), 1, "one credential");
    assert_eq!(e.w.entra.passwords(&e.w.app.object_id).len(), 1);
    e.assert_rotated(&token, &[]).await;
}

#[tokio::test]
async fn each_step_delivered_twice_at_once_to_two_processes_rotates_once() {
    let e = emulation(300, 2, None).await;
    let token = e.rotate_secret().await;

    for step in STEPS {
        // The first delivery takes the target's lease (its answer held there); the second
        // arrives meanwhile, at the other process, and runs to its end.
        let (first, second) = e
            .overlapped(
                |op| op == LEASE_TAKE,
                e.step(step, &token),
                e.step(step, &token),
            )
            .await;
        // The first runs the step; the second meets its lease and settles quietly, without
        // failing (Secrets Manager goes on after the one that succeeded).
        let both = (said(step, &first), said(step, &second));
        assert_eq!(both, (Said::Done, Said::Elsewhere), "{}", e.sequence());
    }

    assert_eq!(e.w.entra.count(EntraOp::AddPassword), 1, "one credential");
    e.assert_rotated(&token, &[]).await;
}

#[tokio::test]
async fn each_step_delivered_twice_at_once_unsynchronised_rotates_once() {
    let e = emulation(300, 2, None).await;
    let token = e.rotate_secret().await;

    for step in STEPS {
        let (a, b) = tokio::join!(e.step(step, &token), e.step(step, &token));
        // One runs it; the other runs it again after it (idempotent) or meets its lease.
        let both = [said(step, &a), said(step, &b)];
        assert!(both.contains(&Said::Done), "{both:?}\n{}", e.sequence());
        let failed = both.iter().filter(|s| matches!(s, Said::Failed(_)));
        assert_eq!(failed.count(), 0, "{both:?}\n{}", e.sequence());
    }

    assert_eq!(e.w.entra.count(EntraOp::AddPassword), 1, "one credential");
    e.assert_rotated(&token, &[]).await;
}

#[tokio::test]
async fn a_scheduled_check_between_two_steps_leaves_the_rotation_to_secrets_manager() {
    let e = emulation(10, 1, None).await;
    let token = e.rotate_secret().await;
    e.run(&token, &STEPS[..2]).await.unwrap();

    let check = e.f.invoke(&event("scheduled-check.json")).await;
    let rest = e.run(&token, &STEPS[2..]).await;

    // Due, and seen in progress: left to Secrets Manager.
    assert_first_action(&check, "none");
    let report = &check["results"][0]["report"];
    assert_eq!(report["due"], true, "{check}");
    assert!(report["rotation_in_progress_until"].is_string(), "{check}");
    assert_eq!(rest, Ok(()), "after the check: {}", e.sequence());
    assert_eq!(e.w.entra.count(EntraOp::AddPassword), 1, "{check}");
    e.assert_rotated(&token, &[&text(&check)]).await;
}

#[tokio::test]
async fn a_rotation_that_failed_in_create_secret_is_retried_from_create_secret_and_completes() {
    let e = emulation(300, 1, None).await;
    let token = e.rotate_secret().await;
    e.w.entra.fail_next(EntraOp::AddPassword, 1, 503);

    let first = e.run(&token, &STEPS).await;
    let retry = e.run(&token, &STEPS).await;

    assert!(matches!(first, Err(Said::Failed(_))), "{first:?}");
    assert_eq!(retry, Ok(()), "Secrets Manager's retry: {}", e.sequence());
    assert_eq!(e.failures(), 1, "the first attempt's failure");
    assert_eq!(e.version_with(AWSCURRENT).await, Some(token));
    e.assert_safe(&[]).await;
}

#[tokio::test]
async fn a_rotation_that_failed_in_test_secret_is_retried_from_create_secret_and_completes() {
    let e = emulation(300, 1, None).await;
    let token = e.rotate_secret().await;
    e.w.jamf.fail_next(JamfOp::SmtpTest, 1, 503);

    let first = e.run(&token, &STEPS).await;
    let retry = e.run(&token, &STEPS).await;

    assert!(matches!(first, Err(Said::Failed(_))), "{first:?}");
    e.assert_safe(&[]).await;
    assert_eq!(retry, Ok(()), "Secrets Manager's retry: {}", e.sequence());
    assert_eq!(e.version_with(AWSCURRENT).await, Some(token));
}

#[tokio::test]
async fn two_overlapping_invocations_of_one_token_one_rolling_back_leave_jamf_pro_on_a_working_secret(
) {
    let e = emulation(300, 2, None).await;
    let token = e.rotate_secret().await;
    e.run(&token, &STEPS[..2]).await.unwrap();
    let jamf = e.w.jamf.clone();
    let written = jamf.count(JamfOp::PutSmtp);
    // testSecret A fails at Jamf Pro and rolls back; just after it put the old secret back into
    // Jamf Pro (A's next AWS request is held there), Secrets Manager's retry B of setSecret
    // arrives (a slow step overlapped) and goes to the other process.
    e.w.jamf.fail_next(JamfOp::SmtpTest, 1, 400);
    let restored = move |_: &str| jamf.count(JamfOp::PutSmtp) > written;

    let (a, b) = e
        .overlapped(
            restored,
            e.step("testSecret", &token),
            e.step("setSecret", &token),
        )
        .await;

    assert!(matches!(said("testSecret", &a), Said::Failed(_)), "{a}");
    assert_eq!(
        said("setSecret", &b),
        Said::Elsewhere,
        "{b}\n{}",
        e.sequence()
    );
    // A put the old secret back and kept AWSPENDING for Secrets Manager's retry.
    assert_eq!(
        e.version_with(AWSPENDING).await,
        Some(token),
        "kept for the retry"
    );
    assert_eq!(e.failures(), 1, "A's failure only");
    e.assert_safe(&[&text(&a), &text(&b)]).await;
}

#[tokio::test]
async fn a_step_event_that_meets_a_manual_rotation_settles_quietly_and_the_rotation_completes() {
    let (_, topic, inbox) = alert_topic().await;
    let e = emulation(300, 2, Some(&topic)).await;
    // A manual rotation holds the target; once its createSecret stored AWSPENDING (that answer
    // held), a step event of that version arrives at the other process (a stray or retried
    // delivery).
    let stored = |op: &str| op == "secretsmanager.PutSecretValue";
    let step_of_its_version = async {
        let token = e.version_with(AWSPENDING).await.expect("pending");
        e.step("setSecret", &token).await
    };

    let rotate = event("rotate-manual.json");
    let (manual, step) = e
        .overlapped(stored, e.f.invoke(&rotate), step_of_its_version)
        .await;

    assert_eq!(manual["report"]["outcome"], "rotated", "{manual}");
    assert_eq!(said("setSecret", &step), Said::Elsewhere, "{step}");
    assert_eq!(e.failures(), 0, "no RotationFailed");
    let notes = inbox.notifications().await;
    let failed = notes.iter().filter(|n| {
        let subject = n["Subject"].as_str().unwrap_or_default();
        subject.starts_with("Rotation failed")
    });
    assert_eq!(failed.count(), 0, "{notes:?}");
    let notes = text(&Value::Array(notes));
    e.assert_safe(&[&text(&manual), &text(&step), &notes]).await;
}
