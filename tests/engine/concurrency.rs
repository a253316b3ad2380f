//! Limits that hold across clients: at most five requests in flight to one Jamf Pro server
//! however many clients (targets) talk to it, each server with its own five; and one sign-in of
//! the rotator for many Graph calls that start together. Real HTTP on loopback; tokio's clock is
//! paused, so the stand-ins' latency costs no real time.

use chrono::{TimeZone, Utc};
use rotator_adapters::entra::{GraphDirectory, RotatorIdentity};
use rotator_adapters::jamf::client::{server_permits, MAX_CONNECTIONS};
use rotator_adapters::jamf::{JamfClient, JamfCredentials};
use rotator_engine::config::{Cloud, Settings};
use rotator_engine::ports::{AppRef, Directory, DirectoryError};
use rotator_testkit::clock::{ManualClock, SharedClock};
use rotator_testkit::entra::{EntraOp, EntraSim};
use rotator_testkit::jamf::{JamfOp, JamfSim, JamfSimConfig};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

const TENANT: &str = "7a1b2c3d-0000-4000-8000-00000000c0c0";
const LATENCY: Duration = Duration::from_millis(50);

fn clock() -> SharedClock {
    Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap(),
    ))
}

/// Keeps tokio's paused clock moving a millisecond at a time, so that it never jumps to a
/// request's timeout while loopback I/O is still on its way.
fn ticker() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        loop {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
}

async fn jamf_server(clock: &SharedClock) -> JamfSim {
    let jamf = JamfSim::start(
        JamfSimConfig {
            entra_login_url: url::Url::parse("http://127.0.0.1:9/").unwrap(),
            tenant_id: TENANT.into(),
            client_id: "mail-app".into(),
            secret: SecretString::from("graph-secret-0".to_string()),
            cloud: Cloud::Global,
        },
        clock.clone(),
    )
    .await;
    jamf.set_latency(LATENCY);
    jamf
}

/// A client of `jamf` with an API client of its own, as each target has.
fn jamf_client(jamf: &JamfSim, clock: &SharedClock) -> JamfClient {
    let (id, secret) = jamf.add_api_client();
    let creds = JamfCredentials::parse(&SecretString::from(
        serde_json::json!({"client_id": id, "client_secret": secret.expose_secret()}).to_string(),
    ))
    .unwrap();
    JamfClient::new(
        &jamf.url(),
        creds,
        &rotator_testkit::settings::on_loopback(),
        clock.clone(),
    )
    .unwrap()
}

#[tokio::test(start_paused = true)]
async fn many_clients_of_one_jamf_server_never_have_more_than_five_requests_in_flight() {
    let clock = clock();
    let jamf = jamf_server(&clock).await;
    let tick = ticker();
    // Eight clients (eight targets on one server), four calls each, all at once: without a
    // per-server limit each client would have up to five in flight, 32 in all.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let c = jamf_client(&jamf, &clock);
        for _ in 0..4 {
            let c = c.clone();
            calls.spawn(async move { c.smtp_server().await.map(|_| ()) });
        }
    }
    while let Some(r) = calls.join_next().await {
        r.unwrap().expect("every call succeeds, only later");
    }
    tick.abort();
    assert_eq!(jamf.count(JamfOp::GetSmtp), 32);
    assert_eq!(jamf.count(JamfOp::Token), 8, "one token per client");
    let max = jamf.max_concurrent();
    assert!((2..=MAX_CONNECTIONS).contains(&max), "max in flight {max}");
    assert_eq!(
        server_permits(&jamf.url()).available_permits(),
        MAX_CONNECTIONS,
        "every permit came back"
    );
}

#[tokio::test(start_paused = true)]
async fn two_jamf_servers_do_not_share_a_limit() {
    let clock = clock();
    let (busy, other) = (jamf_server(&clock).await, jamf_server(&clock).await);
    let tick = ticker();
    // Another process-wide user of the busy server holds all of its permits.
    let held = server_permits(&busy.url())
        .acquire_many_owned(MAX_CONNECTIONS as u32)
        .await
        .unwrap();
    let waiting = {
        let c = jamf_client(&busy, &clock);
        tokio::spawn(async move { c.version().await })
    };
    // The other server is not slowed by it: five clients, two calls each, all complete.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let c = jamf_client(&other, &clock);
        calls.spawn(async move {
            c.smtp_server().await?;
            c.smtp_server().await.map(|_| ())
        });
    }
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(r) = calls.join_next().await {
            r.unwrap().unwrap();
        }
    })
    .await;
    assert!(
        done.is_ok(),
        "the other server's calls did not wait for the busy server"
    );
    assert_eq!(other.count(JamfOp::GetSmtp), 10);
    assert!(other.max_concurrent() >= 2, "{}", other.max_concurrent());
    assert!(
        !waiting.is_finished(),
        "the busy server's call waits for a permit"
    );
    assert_eq!(
        busy.count(JamfOp::Any),
        0,
        "nothing reached the busy server"
    );
    drop(held);
    waiting.await.unwrap().expect("runs once a permit is free");
    assert!(busy.count(JamfOp::Any) >= 2);
    tick.abort();
}

struct Graph {
    sim: EntraSim,
    dir: Arc<GraphDirectory>,
    apps: Vec<AppRef>,
}

async fn graph(apps: usize) -> Graph {
    let clock = clock();
    let sim = EntraSim::start(clock.clone()).await;
    sim.add_tenant(TENANT, None);
    let (rotator_id, rotator_secret) = sim.add_rotator(TENANT);
    let apps = (0..apps)
        .map(|i| {
            let app = sim.add_app(TENANT, &format!("Jamf Pro {i}"));
            sim.make_owner(&rotator_id, &app.object_id);
            AppRef {
                cloud: Cloud::Global,
                tenant_id: TENANT.into(),
                client_id: app.client_id.clone(),
                object_id: Some(app.object_id.clone()),
            }
        })
        .collect();
    let settings = Settings {
        entra_login_url: Some(sim.url()),
        graph_url: Some(sim.url()),
        ..rotator_testkit::settings::on_loopback()
    };
    let identity = RotatorIdentity {
        client_id: rotator_id,
        secret: rotator_secret,
    };
    let dir = Arc::new(GraphDirectory::new(&settings, identity, clock));
    sim.set_latency(LATENCY);
    Graph { sim, dir, apps }
}

#[tokio::test(start_paused = true)]
async fn graph_calls_that_start_together_share_one_sign_in() {
    let g = graph(16).await;
    let tick = ticker();
    let mut calls = tokio::task::JoinSet::new();
    for app in g.apps.clone() {
        let dir = g.dir.clone();
        calls.spawn(async move { dir.application(&app).await.map(|a| a.client_id) });
    }
    let mut read = 0;
    while let Some(r) = calls.join_next().await {
        r.unwrap().expect("every read succeeds");
        read += 1;
    }
    tick.abort();
    assert_eq!(read, 16);
    assert_eq!(g.sim.count(EntraOp::GetApplication), 16);
    assert_eq!(
        g.sim.count(EntraOp::Token),
        1,
        "one sign-in for sixteen calls"
    );
}

#[tokio::test(start_paused = true)]
async fn callers_waiting_on_a_refused_sign_in_get_its_error_and_later_ones_try_again() {
    let g = graph(8).await;
    let tick = ticker();
    // 401 invalid_client: a refusal, not retried.
    g.sim.fail_next(EntraOp::Token, 1, 401);
    let mut calls = tokio::task::JoinSet::new();
    for app in g.apps.clone() {
        let dir = g.dir.clone();
        calls.spawn(async move { dir.application(&app).await.map(|_| ()) });
    }
    while let Some(r) = calls.join_next().await {
        let e = r.unwrap().unwrap_err();
        assert!(
            matches!(e, DirectoryError::Token { status: 401, .. }),
            "{e:?}"
        );
    }
    assert_eq!(
        g.sim.count(EntraOp::Token),
        1,
        "the waiters shared the refusal"
    );
    assert_eq!(g.sim.count(EntraOp::GetApplication), 0);
    // A call that starts afterwards signs in again (the refusal is not cached).
    g.dir.application(&g.apps[0]).await.expect("signs in again");
    assert_eq!(g.sim.count(EntraOp::Token), 2);
    tick.abort();
}
