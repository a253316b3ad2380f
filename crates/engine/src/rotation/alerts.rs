//! How the engine sends an alert: the texts are built in [`crate::alert`]; a failure to send is
//! logged and never hides the error being reported.

use super::Engine;
use crate::ports::{Alert, AlertKind};

impl Engine {
    /// Sends an alert; a failure to send is logged and never hides the original error.
    pub async fn alert(&self, kind: AlertKind, target: &str, subject: String, message: String) {
        let alert = Alert {
            kind,
            target: target.to_string(),
            subject: crate::alert::sns_subject(&subject),
            message,
        };
        self.send(alert).await;
    }

    /// Sends `alert` (built in [`crate::alert`]); a failure to send is logged.
    pub(crate) async fn send(&self, alert: Alert) {
        crate::alert::deliver(self.alerts.as_ref(), &alert).await;
    }
}
