//! Where the client goes: each cloud's Graph scope through the configured hosts, the default
//! hosts per cloud, and a configured plain-HTTP Graph host refused.

use super::harness::{spawn_world, CLOUDS};
use rotator_engine::config::Settings;
use rotator_engine::ports::{AppRef, Directory, DirectoryError};
use rotator_testkit::entra::EntraOp;

#[tokio::test]
async fn every_cloud_uses_its_own_graph_scope_through_the_configured_hosts() {
    let w = spawn_world().await;
    for cloud in CLOUDS {
        let app = AppRef {
            cloud,
            ..w.app.clone()
        };
        w.dir.application(&app).await.unwrap();
        let encoded: String =
            url::form_urlencoded::byte_serialize(cloud.graph_scope().as_bytes()).collect();
        let asked = w
            .sim
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/oauth2/v2.0/token") && r.body.contains(&encoded));
        assert!(asked, "{cloud:?} asked for {}", cloud.graph_scope());
    }
    assert_eq!(
        w.sim.count(EntraOp::Token),
        4,
        "one token per cloud's scope"
    );
}

#[tokio::test]
async fn default_hosts_must_be_https_and_plain_http_elsewhere_is_refused() {
    let w = spawn_world().await;
    let settings = Settings {
        graph_url: Some("http://graph.example.com/".parse().unwrap()),
        ..rotator_testkit::settings::on_loopback()
    };
    let dir = w.dir_with_settings(&settings);
    let e = dir.application(&w.app).await.unwrap_err();
    assert!(
        matches!(&e, DirectoryError::Config(m) if m.contains("GRAPH_URL")),
        "{e:?}"
    );
    for cloud in CLOUDS {
        assert_eq!(
            Settings::default().login_base(cloud).as_str(),
            format!("{}/", cloud.login_url())
        );
        assert_eq!(
            Settings::default().graph_base(cloud).as_str(),
            format!("{}/", cloud.graph_url())
        );
    }
}
