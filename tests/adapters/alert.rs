//! Alerts through SNS on a real moto server: what a subscriber receives, and what happens when
//! SNS cannot be reached (nothing breaks, the caller carries on).

use crate::common::moto;

use rotator_adapters::sns::SnsAlerts;
use rotator_engine::alert::deliver;
use rotator_engine::ports::{Alert, AlertKind, Alerts};

fn alert(subject: &str, message: &str) -> Alert {
    Alert {
        kind: AlertKind::RolledBack,
        target: "arn:aws:secretsmanager:us-east-1:123456789012:secret:jamf-prod".into(),
        subject: subject.into(),
        message: message.into(),
    }
}

async fn topic(sns: &aws_sdk_sns::Client) -> String {
    let out = sns
        .create_topic()
        .name(moto::unique("alerts"))
        .send()
        .await
        .expect("CreateTopic");
    out.topic_arn().expect("topic ARN").to_string()
}

#[tokio::test]
async fn sns_alert_reaches_a_subscriber_with_subject_and_message() {
    let sns = moto::sns_client().await;
    let topic = topic(&sns).await;
    let inbox = moto::Inbox::subscribe(&sns, &topic).await;
    let alerts = SnsAlerts::new(sns.clone(), &topic);
    let a = alert(
        "Rotation rolled back: jamf-prod",
        "Jamf Pro is on the old secret.\nRun `status` for details.",
    );
    alerts.send(&a).await.expect("publish");
    let got = inbox.notifications().await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["TopicArn"], topic.as_str());
    assert_eq!(got[0]["Subject"], "Rotation rolled back: jamf-prod");
    let message = got[0]["Message"].as_str().expect("Message");
    assert!(
        message.starts_with("Jamf Pro is on the old secret.\nRun `status` for details."),
        "{message}"
    );
    assert!(
        message.contains("Target: arn:aws:secretsmanager:")
            && message.contains("Kind: rolled-back"),
        "{message}"
    );
}

#[tokio::test]
async fn sns_subject_is_made_acceptable_to_sns() {
    let sns = moto::sns_client().await;
    let topic = topic(&sns).await;
    let inbox = moto::Inbox::subscribe(&sns, &topic).await;
    let long = format!("Rotation failed – {}\nsecond line", "x".repeat(200));
    assert!(
        deliver(&SnsAlerts::new(sns, &topic), &alert(&long, "m")).await,
        "SNS refused the subject"
    );
    let got = inbox.notifications().await;
    let subject = got[0]["Subject"].as_str().expect("Subject");
    assert!(
        subject.len() <= 100 && subject.is_ascii() && !subject.contains('\n'),
        "{subject}"
    );
    assert!(subject.starts_with("Rotation failed ? xxx"), "{subject}");
}

#[tokio::test]
async fn deliver_to_a_missing_topic_reports_false_without_panicking() {
    let sns = moto::sns_client().await;
    let missing = format!(
        "arn:aws:sns:us-east-1:{}:{}",
        moto::ACCOUNT,
        moto::unique("no-such-topic")
    );
    let alerts = SnsAlerts::new(sns, &missing);
    let err = alerts
        .send(&alert("s", "m"))
        .await
        .expect_err("no such topic");
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(!deliver(&alerts, &alert("s", "m")).await);
}

#[tokio::test]
async fn deliver_when_sns_is_unreachable_returns_instead_of_failing() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let conf = aws_sdk_sns::Config::builder()
        .behavior_version(aws_sdk_sns::config::BehaviorVersion::latest())
        .region(aws_sdk_sns::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sns::config::Credentials::new(
            "a", "b", None, None, "test",
        ))
        .endpoint_url(format!("http://127.0.0.1:{port}"))
        .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled())
        .build();
    let alerts = SnsAlerts::new(
        aws_sdk_sns::Client::from_conf(conf),
        "arn:aws:sns:us-east-1:123456789012:t",
    );
    assert!(!deliver(&alerts, &alert("s", "m")).await);
}
