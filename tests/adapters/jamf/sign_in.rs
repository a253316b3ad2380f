//! How the client signs in to Jamf Pro: the API client token reused until near expiry, the
//! legacy OAuth path for older servers, a bad API client, a user account's bearer token, and one
//! new sign-in on a 401 mid-flow.

use super::harness::spawn_world;
use rotator_engine::ports::TargetError;
use rotator_testkit::jamf::JamfOp;
use std::time::Duration;

#[tokio::test]
async fn api_client_token_is_reused_until_shortly_before_it_expires() {
    let w = spawn_world().await;
    let c = w.client();
    for _ in 0..3 {
        c.smtp_server().await.unwrap();
    }
    assert_eq!(w.jamf.count(JamfOp::Token), 1, "{:?}", w.paths());
    assert!(w.paths()[0].starts_with("POST /api/v1/oauth/token"));
    // The stand-in's token lives 1799 s; 28 minutes in, it is still good.
    w.clock.advance(Duration::from_secs(28 * 60));
    c.version().await.unwrap();
    assert_eq!(w.jamf.count(JamfOp::Token), 1);
    // Within the last minute, it is replaced before it can expire mid-flight.
    w.clock.advance(Duration::from_secs(90));
    c.version().await.unwrap();
    assert_eq!(w.jamf.count(JamfOp::Token), 2);
}

#[tokio::test]
async fn older_servers_get_the_legacy_oauth_path_and_keep_it() {
    let w = spawn_world().await;
    w.jamf.set_legacy_oauth_only(true);
    let c = w.client();
    c.smtp_server().await.unwrap();
    w.clock.advance(Duration::from_secs(3600));
    c.smtp_server().await.unwrap();
    let v1 = w.count_path("POST /api/v1/oauth/token");
    let legacy = w.count_path("POST /api/oauth/token");
    assert_eq!((v1, legacy), (1, 2), "{:?}", w.paths());
}

#[tokio::test]
async fn a_bad_api_client_is_an_auth_error_that_never_shows_the_secret() {
    let w = spawn_world().await;
    let c = w.client_with(
        serde_json::json!({"client_id": w.jamf_client_id, "client_secret": "Wr0ng-but-secret"}),
    );
    let e = c.smtp_server().await.unwrap_err();
    assert!(matches!(e, TargetError::Auth { .. }), "{e:?}");
    let shown = format!("{e} {e:?} {c:?}");
    assert!(shown.contains("invalid_client"), "{shown}");
    assert!(!shown.contains("Wr0ng-but-secret"), "{shown}");
}

#[tokio::test]
async fn a_user_account_gets_a_bearer_token_and_close_invalidates_it() {
    let w = spawn_world().await;
    w.jamf.add_user("rotator", "pa55:word!");
    let c = w.client_with(serde_json::json!({"username": "rotator", "password": "pa55:word!"}));
    assert!(c.version().await.unwrap().starts_with("11."));
    assert!(w.paths()[0].starts_with("POST /api/v1/auth/token"));
    c.close().await.unwrap();
    let last = w.jamf.requests().pop().unwrap();
    assert_eq!(
        (last.path.as_str(), last.status),
        ("/api/v1/auth/invalidate-token", 204)
    );
    // The invalidated token is gone: the next call signs in again.
    c.version().await.unwrap();
    assert_eq!(w.jamf.count(JamfOp::Token), 2);

    let bad = w.client_with(serde_json::json!({"username": "rotator", "password": "nope-nope"}));
    assert!(matches!(bad.version().await, Err(TargetError::Auth { .. })));
}

#[tokio::test]
async fn a_401_mid_flow_signs_in_again_once_and_repeats_the_call_once() {
    let w = spawn_world().await;
    let c = w.client();
    c.smtp_server().await.unwrap();
    w.jamf.expire_tokens();
    c.smtp_server().await.unwrap();
    assert_eq!(w.jamf.count(JamfOp::Token), 2);
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 3);

    // A server that keeps answering 401 gets exactly one more sign-in and one repeat.
    w.jamf.fail_next(JamfOp::GetSmtp, 10, 401);
    let e = c.smtp_server().await.unwrap_err();
    assert!(matches!(e, TargetError::Auth { .. }), "{e:?}");
    assert_eq!(w.jamf.count(JamfOp::Token), 3);
    assert_eq!(w.jamf.count(JamfOp::GetSmtp), 5);
}
