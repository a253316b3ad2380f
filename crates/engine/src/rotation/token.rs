//! The in-process driver's tokens (the version id of a rotation): derived from the current
//! version, so that two processes starting a rotation of one version converge on one token; a
//! pending version found is resumed with its own token, and a token spent by an attempt that was
//! rolled back moves on to the next.

use super::report::RotationReport;
use super::{Engine, ErrorKind, RotationError, Step, StepContext};
use crate::ports::{SecretInfo, AWSCURRENT, AWSPENDING};

impl Engine {
    /// The token of this attempt, and whether it resumes a rotation left half done.
    pub(super) fn token_for_attempt(
        &self,
        info: &SecretInfo,
        current_version: &str,
    ) -> (String, bool) {
        match info
            .version_with(AWSPENDING)
            .filter(|v| *v != current_version)
        {
            Some(pending) => {
                let resuming = format!("resuming the rotation left half done in version {pending}");
                self.note(Step::Guard, &resuming);
                (pending.to_string(), true)
            }
            // The first token is tried without asking whether an earlier attempt spent it:
            // createSecret finds out if it did (Secrets Manager refuses the write), and then the
            // next one is looked for.
            None => (first_token(info, current_version), false),
        }
    }

    /// When `result` says the token was spent by an attempt that was rolled back, runs the
    /// rotation again with the next token. `Err(version)` when `AWSCURRENT` moved to `version`
    /// meanwhile (another rotation completed).
    pub(super) async fn after_spent(
        &self,
        ctx: &mut StepContext,
        current_version: &str,
        result: Result<(), RotationError>,
        report: &mut RotationReport,
    ) -> Result<Result<(), RotationError>, String> {
        let Err(RotationError {
            kind: ErrorKind::TokenSpent(spent),
            ..
        }) = &result
        else {
            return Ok(result);
        };
        self.note(
            Step::Guard,
            &format!(
                "version {spent} was spent by an attempt that was rolled back; using the next one"
            ),
        );
        match self.next_attempt(&ctx.secret_id, current_version).await {
            Ok(Next::Token(token)) => {
                ctx.token = token;
                report.token = Some(ctx.token.clone());
                Ok(self.run_all(ctx, report).await)
            }
            Ok(Next::Moved(version)) => Err(version),
            Err(e) => Ok(Err(e)),
        }
    }
}

/// The token after a spent one, or where `AWSCURRENT` went meanwhile.
enum Next {
    Token(String),
    Moved(String),
}

impl Engine {
    /// The token to use after the first one turned out spent: from a fresh look at the stages,
    /// unless `AWSCURRENT` is no longer `current_version`.
    async fn next_attempt(
        &self,
        secret_id: &str,
        current_version: &str,
    ) -> Result<Next, RotationError> {
        let info = self
            .store
            .describe(secret_id)
            .await
            .map_err(|e| RotationError::store(Step::Guard, e))?;
        if let Some(moved) = info
            .version_with(AWSCURRENT)
            .filter(|v| *v != current_version)
        {
            return Ok(Next::Moved(moved.to_string()));
        }
        let token = next_token(self, secret_id, &info, current_version).await?;
        Ok(Next::Token(token))
    }
}

/// The version id of the in-process driver's next rotation: derived from the current version,
/// so that two processes starting a rotation of the same version at once use the same token
/// (and Secrets Manager's `ClientRequestToken` idempotency makes them converge). A version
/// already spent by a rolled-back attempt (unlabelled, so `DescribeSecret` no longer lists it,
/// but still readable by id) moves on to the next number.
pub(super) async fn next_token(
    engine: &Engine,
    secret_id: &str,
    info: &SecretInfo,
    current_version: &str,
) -> Result<String, RotationError> {
    for n in 0u32..100 {
        let t = token_for(info, current_version, n);
        if info.versions.contains_key(&t) {
            continue;
        }
        if !engine
            .store
            .version_exists(secret_id, &t)
            .await
            .map_err(|e| RotationError::store(Step::Guard, e))?
        {
            return Ok(t);
        }
    }
    Err(RotationError::new(
        Step::Guard,
        ErrorKind::AttemptsExhausted { attempts: 100 },
    ))
}

/// The first token not labelled on the secret: spent or not is not asked (see [`next_token`]).
fn first_token(info: &SecretInfo, current_version: &str) -> String {
    (0u32..100)
        .map(|n| token_for(info, current_version, n))
        .find(|t| !info.versions.contains_key(t))
        .unwrap_or_else(|| token_for(info, current_version, 100))
}

/// The `n`-th token of a rotation of `current_version` (see [`next_token`]).
fn token_for(info: &SecretInfo, current_version: &str, n: u32) -> String {
    uuid::Uuid::new_v5(
        &uuid::Uuid::NAMESPACE_OID,
        format!("{}|{current_version}|{n}", info.arn).as_bytes(),
    )
    .to_string()
}
