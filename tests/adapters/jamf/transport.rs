//! What happens on the wire: the node cookie pins later requests to one node, Jamf Pro's errors
//! are parsed and only idempotent calls retried (waits on the virtual clock), and parallel calls
//! share at most five connections.

use super::harness::{header, spawn_world};
use rotator_engine::ports::TargetError;
use rotator_testkit::clock::Clock;
use rotator_testkit::jamf::JamfOp;
use std::time::Duration;

#[tokio::test]
async fn the_node_cookie_from_the_token_response_comes_back_on_later_requests() {
    let w = spawn_world().await;
    let c = w.client();
    c.smtp_server().await.unwrap();
    c.notifications().await.unwrap();
    let requests = w.jamf.requests();
    let cookie = |i: usize| header(&requests[i], "cookie");
    assert_eq!(cookie(0), None, "the first request has no cookie yet");
    let pinned = cookie(1).expect("GET smtp-server carries the node cookie");
    assert!(pinned.contains("jpro-ingress=node-"), "{pinned}");
    assert_eq!(
        cookie(2),
        Some(pinned),
        "same node for the following request"
    );
}

#[tokio::test]
async fn jamf_errors_are_parsed_and_only_idempotent_calls_are_retried() {
    let w = spawn_world().await;
    let c = w.client();
    w.jamf.fail_next(JamfOp::GetSmtp, 1, 403);
    match c.smtp_server().await.unwrap_err() {
        TargetError::Api {
            operation,
            status,
            code,
            message,
        } => {
            assert_eq!(
                (operation.as_str(), status),
                ("GET /api/v2/smtp-server", 403)
            );
            assert_eq!(code.as_deref(), Some("INJECTED_FAILURE"));
            assert!(message.contains("failure injected"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 1, "a 403 is not retried");

    // Two 503s, then success: three attempts, the waits on the virtual clock.
    let before = w.clock.now();
    w.jamf.fail_next(JamfOp::GetSmtp, 2, 503);
    c.smtp_server().await.unwrap();
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 4);
    assert!(
        w.clock.now() > before,
        "backoff went through the injected clock"
    );

    // Three 502s exhaust the three attempts.
    w.jamf.fail_next(JamfOp::GetSmtp, 3, 502);
    assert!(matches!(
        c.smtp_server().await,
        Err(TargetError::Api { status: 502, .. })
    ));
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 7);

    // The SMTP test sends mail: never repeated.
    w.jamf.fail_next(JamfOp::SmtpTest, 1, 503);
    assert!(c.smtp_test("it@example.com").await.is_err());
    assert_eq!(w.jamf.count(JamfOp::SmtpTest), 1);
}

#[tokio::test]
async fn twenty_parallel_calls_never_exceed_five_connections() {
    let w = spawn_world().await;
    let c = w.client();
    c.version().await.unwrap();
    // The stand-in holds each request briefly so that unlimited clients would pile up.
    w.jamf.set_latency(Duration::from_millis(25));
    let calls = (0..20).map(|_| {
        let c = c.clone();
        tokio::spawn(async move { c.smtp_server().await })
    });
    for r in futures_join(calls).await {
        r.unwrap();
    }
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 20);
    let max = w.jamf.max_concurrent();
    assert!((2..=5).contains(&max), "max concurrent {max}");
}

/// Spawns every task first, then awaits each in order.
async fn futures_join<T>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.unwrap());
    }
    out
}
