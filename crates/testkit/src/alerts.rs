//! Alerts recorded in memory, with a switch that makes every send fail as if SNS were down.

use async_trait::async_trait;
use rotator_engine::ports::{Alert, AlertError, Alerts};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Recorded {
    sent: Vec<Alert>,
    failing: bool,
}

/// Records alerts instead of sending them. Cheap to clone: clones share the record.
#[derive(Debug, Clone, Default)]
pub struct MemoryAlerts {
    inner: Arc<Mutex<Recorded>>,
}

impl MemoryAlerts {
    /// An empty recorder that accepts alerts.
    pub fn new() -> Self {
        Self::default()
    }
    /// The alerts sent so far, in order.
    pub fn sent(&self) -> Vec<Alert> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .sent
            .clone()
    }
    /// While `true`, every send fails as if SNS were down (and records nothing).
    pub fn fail(&self, failing: bool) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).failing = failing;
    }
}

#[async_trait]
impl Alerts for MemoryAlerts {
    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.failing {
            return Err(AlertError("SNS unavailable (simulated)".to_string()));
        }
        inner.sent.push(alert.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rotator_engine::alert::{deliver, LogAlerts};
    use rotator_engine::ports::AlertKind;

    fn alert(subject: &str) -> Alert {
        Alert {
            kind: AlertKind::RotationFailed,
            target: "t".into(),
            subject: subject.into(),
            message: "m".into(),
        }
    }

    #[tokio::test]
    async fn deliver_records_and_survives_a_failing_sender() {
        let alerts = MemoryAlerts::new();
        assert!(deliver(&alerts, &alert("one")).await);
        alerts.fail(true);
        assert!(!deliver(&alerts, &alert("two")).await);
        alerts.clone().fail(false);
        assert!(deliver(&LogAlerts, &alert("logged")).await);
        assert!(deliver(&alerts, &alert("three")).await);
        let subjects: Vec<String> = alerts.sent().into_iter().map(|a| a.subject).collect();
        assert_eq!(subjects, ["one", "three"]);
    }
}
