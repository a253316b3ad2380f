//! The moto server every AWS-facing integration test talks to, over real HTTP.
//!
//! [`endpoint`] uses `AWS_ENDPOINT_URL` when set (`scripts/test` and `.ci/run` start one moto for
//! the whole run); otherwise it starts `moto_server` once per test process on a free loopback
//! port. Tests share that server, so every resource name goes through [`unique`].
//!
//! Also here, because only moto needs them: [`begin_rotation`] (what `RotateSecret` does before
//! the first step, the AWS way), a lease table ([`create_lease_table`]) and an SQS inbox for
//! reading what SNS published.
#![allow(dead_code)]

use aws_sdk_secretsmanager::config::{BehaviorVersion, Credentials, Region};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::OnceCell;

static ENDPOINT: OnceCell<String> = OnceCell::const_new();
static MOTO: OnceLock<Mutex<Child>> = OnceLock::new();
static ROTATION_LAMBDA: OnceCell<String> = OnceCell::const_new();

/// The account id moto uses.
pub const ACCOUNT: &str = "123456789012";
/// The region every client uses.
pub const REGION: &str = "us-east-1";

/// The moto endpoint: `AWS_ENDPOINT_URL`, or a `moto_server` started for this test process.
pub async fn endpoint() -> String {
    ENDPOINT
        .get_or_init(|| async {
            match std::env::var("AWS_ENDPOINT_URL") {
                Ok(url) if !url.is_empty() => url.trim_end_matches('/').to_string(),
                _ => start_moto().await,
            }
        })
        .await
        .clone()
}

/// The repository's root (where `Cargo.lock`, `.venv`, `events/` and `scripts/` are), from the
/// manifest of whichever workspace crate's tests include this file.
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .unwrap_or(&manifest)
        .to_path_buf()
}

fn moto_server_path() -> PathBuf {
    let venv = repo_root().join(".venv/bin/moto_server");
    if venv.is_file() {
        return venv;
    }
    std::env::var_os("PATH")
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|d| d.join("moto_server"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!("moto_server not found: run scripts/test (it installs moto into .venv)")
        })
}

/// Starts `moto_server` on a free loopback port and waits until it accepts connections.
async fn start_moto() -> String {
    let server = moto_server_path();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("moto-{port}.log"));
    // The wrapper shell waits for moto (so its exit tells us moto died) while a watcher holds
    // our end of a pipe on stdin: when this test process exits, however it exits, the pipe
    // closes, `cat` returns and moto is killed. No server outlives the tests.
    let child = Command::new("bash")
        .arg("-c")
        .arg(r#""$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 & pid=$!; (cat >/dev/null; kill "$pid") <&0 & wait "$pid""#)
        .arg(&server)
        .arg(port.to_string())
        .arg(&log)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
    // Kept for the life of the process: dropping it would close the pipe and stop moto.
    let child = MOTO.get_or_init(|| Mutex::new(child));
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return url;
        }
        if let Ok(Some(status)) = child.lock().expect("moto child").try_wait() {
            let out = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "moto_server ({}) exited with {status}:\n{out}",
                server.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "moto_server ({}) did not answer on {url} within 15 s (log: {})",
        server.display(),
        log.display()
    );
}

fn credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "moto")
}

/// A Secrets Manager client for moto (dummy credentials, us-east-1).
pub async fn secrets_client() -> aws_sdk_secretsmanager::Client {
    let conf = aws_sdk_secretsmanager::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials())
        .endpoint_url(endpoint().await)
        .build();
    aws_sdk_secretsmanager::Client::from_conf(conf)
}

/// An SNS client for moto (dummy credentials, us-east-1).
pub async fn sns_client() -> aws_sdk_sns::Client {
    let conf = aws_sdk_sns::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials())
        .endpoint_url(endpoint().await)
        .build();
    aws_sdk_sns::Client::from_conf(conf)
}

/// A DynamoDB client for moto (dummy credentials, us-east-1): the lease table's service.
pub async fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(credentials())
        .endpoint_url(endpoint().await)
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

/// A new lease table as template.yaml declares it (partition key `pk`, a string; on demand);
/// returns its name.
pub async fn create_lease_table(client: &aws_sdk_dynamodb::Client) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let name = unique("leases");
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("moto creates the lease table");
    name
}

/// `name` with a unique suffix, so tests sharing one moto never collide.
pub fn unique(name: &str) -> String {
    format!(
        "{name}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A raw AWS call to moto (for services this crate has no SDK for: IAM, Lambda, SQS). moto does
/// not check signatures; it reads the service and region from the credential scope.
async fn raw(
    service: &str,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (u16, String) {
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20240101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", endpoint().await))
        .header("authorization", auth);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("moto {service} {path}: {e}"));
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

/// Registers a do-nothing rotation function in moto (once per process) and returns its ARN.
/// With it, `RotateSecret` behaves like AWS: an empty `AWSPENDING` version and no label moved
/// (without one, moto moves `AWSCURRENT` by itself).
pub async fn rotation_lambda() -> String {
    ROTATION_LAMBDA
        .get_or_init(|| async {
            let json = [("content-type", "application/json")];
            let (s, b) = raw("moto", reqwest::Method::POST, "/moto-api/config", &json, r#"{"lambda":{"use_docker":false}}"#.into()).await;
            assert!((200..300).contains(&s), "moto lambda config: {s} {b}");
            let form = [("content-type", "application/x-www-form-urlencoded")];
            let body = "Action=CreateRole&Version=2010-05-08&RoleName=rotation-stub&AssumeRolePolicyDocument=%7B%7D";
            let (s, b) = raw("iam", reqwest::Method::POST, "/", &form, body.into()).await;
            assert!(s == 200 || b.contains("EntityAlreadyExists"), "moto CreateRole: {s} {b}");
            let function = serde_json::json!({
                "FunctionName": "rotation-stub",
                "Runtime": "python3.12",
                "Role": format!("arn:aws:iam::{ACCOUNT}:role/rotation-stub"),
                "Handler": "index.handler",
                // moto never runs it (use_docker false) and does not unpack it.
                "Code": {"ZipFile": "c3R1Yg=="},
            });
            let (s, b) = raw("lambda", reqwest::Method::POST, "/2015-03-31/functions", &json, function.to_string()).await;
            assert!((200..300).contains(&s) || s == 409, "moto CreateFunction: {s} {b}");
            format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotation-stub")
        })
        .await
        .clone()
}

/// Starts a rotation the AWS way: `RotateSecret` with a registered (stub) function leaves an
/// empty version `token` carrying `AWSPENDING`, with rotation enabled; then the test drives the
/// steps itself.
pub async fn begin_rotation(client: &aws_sdk_secretsmanager::Client, secret_id: &str, token: &str) {
    let rules = aws_sdk_secretsmanager::types::RotationRulesType::builder()
        .automatically_after_days(30)
        .build();
    client
        .rotate_secret()
        .secret_id(secret_id)
        .client_request_token(token)
        .rotation_lambda_arn(rotation_lambda().await)
        .rotation_rules(rules)
        .rotate_immediately(true)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "RotateSecret {secret_id}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        });
}

/// An SQS queue subscribed to an SNS topic: what the topic publishes can be read back.
pub struct Inbox {
    queue_url: String,
}

async fn sqs(target: &str, body: serde_json::Value) -> serde_json::Value {
    let headers = [
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", target),
    ];
    let (s, b) = raw(
        "sqs",
        reqwest::Method::POST,
        "/",
        &headers,
        body.to_string(),
    )
    .await;
    assert_eq!(s, 200, "moto {target}: {b}");
    serde_json::from_str(&b).unwrap_or_else(|e| panic!("moto {target}: not JSON ({e}): {b}"))
}

impl Inbox {
    /// Creates a queue and subscribes it to `topic_arn`.
    pub async fn subscribe(sns: &aws_sdk_sns::Client, topic_arn: &str) -> Inbox {
        let name = unique("alerts");
        let out = sqs(
            "AmazonSQS.CreateQueue",
            serde_json::json!({"QueueName": name}),
        )
        .await;
        let queue_url = out["QueueUrl"].as_str().expect("QueueUrl").to_string();
        sns.subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"))
            .send()
            .await
            .expect("SNS Subscribe");
        Inbox { queue_url }
    }

    /// The SNS notifications (envelopes with `Subject`, `Message`, `TopicArn`) waiting in the
    /// queue. moto delivers synchronously during Publish, so no waiting is needed.
    pub async fn notifications(&self) -> Vec<serde_json::Value> {
        let out = sqs(
            "AmazonSQS.ReceiveMessage",
            serde_json::json!({"QueueUrl": self.queue_url, "MaxNumberOfMessages": 10}),
        )
        .await;
        out["Messages"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .map(|m| {
                        serde_json::from_str(m["Body"].as_str().unwrap_or("{}"))
                            .expect("SNS envelope")
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
