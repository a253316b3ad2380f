//! Alerts through an SNS topic (e-mail, chat through AWS Chatbot, paging subscribe to it), in
//! the per-protocol form the engine writes ([`crate::alert::structured_message`]).

use crate::alert::{sns_subject, structured_message};
use crate::ports::{Alert, AlertError, Alerts};
use async_trait::async_trait;

/// Alerts through an SNS topic.
#[derive(Debug, Clone)]
pub struct SnsAlerts {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SnsAlerts {
    /// Publishes to `topic_arn` (from `ALERT_TOPIC_ARN`) with `client`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client,
            topic_arn: topic_arn.into(),
        }
    }
}

#[async_trait]
impl Alerts for SnsAlerts {
    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(sns_subject(&alert.subject))
            .message_structure("json")
            .message(structured_message(alert))
            .send()
            .await
            .map_err(|e| {
                AlertError(format!(
                    "SNS Publish to {} failed: {}",
                    self.topic_arn,
                    aws_sdk_sns::error::DisplayErrorContext(&e)
                ))
            })?;
        tracing::info!(topic = %self.topic_arn, subject = %alert.subject, "alert sent");
        Ok(())
    }
}
