//! Password credentials in the Entra stand-in: how Graph lists them, when they propagate, new
//! Entra-like secrets, and `addPassword` (lifetime policies applied).

use super::graph::graph_error;
use super::{iso, App, Ctx, Password, Reply};
use crate::ports::PasswordCredential;
use chrono::{DateTime, Utc};
use rand::RngExt;
use serde_json::{json, Value};
use std::time::Duration;

impl Password {
    pub(super) fn listed(&self) -> PasswordCredential {
        PasswordCredential {
            key_id: self.key_id.clone(),
            display_name: self.display_name.clone(),
            start: Some(self.start),
            end: Some(self.end),
            hint: Some(self.secret.chars().take(3).collect()),
        }
    }
    pub(super) fn json(&self, secret: bool) -> Value {
        json!({
            "customKeyIdentifier": null,
            "displayName": self.display_name,
            "endDateTime": iso(self.end),
            "hint": self.secret.chars().take(3).collect::<String>(),
            "keyId": self.key_id,
            "secretText": if secret { Some(self.secret.clone()) } else { None },
            "startDateTime": iso(self.start),
        })
    }
    pub(super) fn propagated(&self, now: DateTime<Utc>, lag: Duration) -> bool {
        match self.created {
            None => true,
            Some(c) => now >= c + chrono::Duration::from_std(lag).unwrap_or(chrono::Duration::MAX),
        }
    }
}

/// Entra-like secret: 40 characters, `xxxNQ~` followed by 34 more.
pub(super) fn new_secret() -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-";
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::rng();
    let mut s: String = (0..3)
        .map(|_| ALNUM[rng.random_range(0..ALNUM.len())] as char)
        .collect();
    s.push(char::from(b'0' + rng.random_range(0..10u8)));
    s.push_str("Q~");
    s.extend((0..34).map(|_| CHARS[rng.random_range(0..CHARS.len())] as char));
    s
}

pub(super) fn add_password(
    app: &mut App,
    ctx: &Ctx,
    tenant_max: Option<chrono::Duration>,
    body: &str,
) -> Reply {
    let Ok(v) = serde_json::from_str::<Value>(if body.trim().is_empty() { "{}" } else { body })
    else {
        return graph_error(
            ctx,
            400,
            "Request_BadRequest",
            "Unable to read JSON request payload.",
        );
    };
    let pc = v.get("passwordCredential").cloned().unwrap_or(Value::Null);
    let time = |field: &str| -> Result<Option<DateTime<Utc>>, Reply> {
        match pc.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| {
                    graph_error(
                        ctx,
                        400,
                        "Request_BadRequest",
                        &format!("Invalid value for {field}."),
                    )
                }),
            Some(_) => Err(graph_error(
                ctx,
                400,
                "Request_BadRequest",
                &format!("Invalid value for {field}."),
            )),
        }
    };
    let start = match time("startDateTime") {
        Ok(t) => t.unwrap_or(ctx.now),
        Err(r) => return r,
    };
    let end = match time("endDateTime") {
        Ok(t) => t.unwrap_or_else(|| {
            start
                .checked_add_months(chrono::Months::new(24))
                .expect("in range")
        }),
        Err(r) => return r,
    };
    if end <= start {
        return graph_error(
            ctx,
            400,
            "Request_BadRequest",
            "endDateTime must be after startDateTime.",
        );
    }
    let max = [tenant_max, app.max_lifetime].into_iter().flatten().min();
    if max.is_some_and(|m| end - start > m) {
        return graph_error(ctx, 400, "CredentialInvalidLifetimeAsPerAppPolicy", "Credential lifetime exceeds the max value allowed as per assigned policy '00000000-0000-0000-0000-000000000000'.");
    }
    let p = Password {
        key_id: uuid::Uuid::new_v4().to_string(),
        display_name: pc
            .get("displayName")
            .and_then(Value::as_str)
            .map(str::to_string),
        start,
        end,
        secret: new_secret(),
        created: Some(ctx.now),
        last_sign_in: None,
    };
    let reply = Reply::json(200, p.json(true));
    app.passwords.push(p);
    reply
}
