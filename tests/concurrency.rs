//! Limits that hold across clients: at most five requests in flight to one Jamf Pro server
//! however many clients (targets) talk to it, each server with its own five. Real HTTP on
//! loopback; tokio's clock is paused, so the stand-ins' latency costs no real time.

use chrono::{TimeZone, Utc};
use jamf_entra_rotator::clock::{ManualClock, SharedClock};
use jamf_entra_rotator::config::{Cloud, Settings};
use jamf_entra_rotator::jamf::client::{server_permits, MAX_CONNECTIONS};
use jamf_entra_rotator::jamf::{JamfClient, JamfCredentials};
use jamf_entra_rotator::sim::jamf::{JamfOp, JamfSim, JamfSimConfig};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

const TENANT: &str = "7a1b2c3d-0000-4000-8000-00000000c0c0";
const LATENCY: Duration = Duration::from_millis(50);

fn clock() -> SharedClock {
    Arc::new(ManualClock::new(Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()))
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
    JamfClient::new(&jamf.url(), creds, &Settings::default(), clock.clone()).unwrap()
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
    assert_eq!(server_permits(&jamf.url()).available_permits(), MAX_CONNECTIONS, "every permit came back");
}

#[tokio::test(start_paused = true)]
async fn two_jamf_servers_do_not_share_a_limit() {
    let clock = clock();
    let (busy, other) = (jamf_server(&clock).await, jamf_server(&clock).await);
    let tick = ticker();
    // Another process-wide user of the busy server holds all of its permits.
    let held = server_permits(&busy.url()).acquire_many_owned(MAX_CONNECTIONS as u32).await.unwrap();
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
    assert!(done.is_ok(), "the other server's calls did not wait for the busy server");
    assert_eq!(other.count(JamfOp::GetSmtp), 10);
    assert!(other.max_concurrent() >= 2, "{}", other.max_concurrent());
    assert!(!waiting.is_finished(), "the busy server's call waits for a permit");
    assert_eq!(busy.count(JamfOp::Any), 0, "nothing reached the busy server");
    drop(held);
    waiting.await.unwrap().expect("runs once a permit is free");
    assert!(busy.count(JamfOp::Any) >= 2);
    tick.abort();
}
