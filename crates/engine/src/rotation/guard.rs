//! The guard every step passes first, as in AWS's rotation template: the token must be a version
//! of the secret; a version already `AWSCURRENT` means the work is done; a version that is not
//! `AWSPENDING` means this rotation is no longer the one in progress.

use super::{Driver, Engine, ErrorKind, RotationError, Step, StepContext};
use crate::ports::{SecretInfo, AWSCURRENT, AWSPENDING};

/// Where the token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// The version is already `AWSCURRENT`: the rotation completed; the step has nothing to do.
    AlreadyCurrent,
    /// The version is `AWSPENDING`: the step may proceed.
    Pending,
}

/// Checks where `token` stands in `info`. `require_rotation_enabled` is set for Secrets Manager
/// step events (AWS's template refuses to rotate a secret with rotation disabled).
pub fn standing(
    info: &SecretInfo,
    token: &str,
    step: Step,
    require_rotation_enabled: bool,
) -> Result<Standing, RotationError> {
    let (secret_id, token) = (info.name.clone(), token.to_string());
    let fail = |kind: ErrorKind| Err(RotationError::new(step, kind));
    if require_rotation_enabled && info.rotation_enabled == Some(false) {
        return fail(ErrorKind::RotationDisabled { secret_id });
    }
    if !info.versions.contains_key(&token) {
        return fail(ErrorKind::UnknownToken { token, secret_id });
    }
    if info.has(&token, AWSCURRENT) {
        return Ok(Standing::AlreadyCurrent);
    }
    if !info.has(&token, AWSPENDING) {
        return fail(ErrorKind::NotPending { token, secret_id });
    }
    Ok(Standing::Pending)
}

impl Engine {
    /// Describes the secret and checks where the context's token stands. The in-process
    /// driver's createSecret may make the token's version itself when the token names none and
    /// no other version is pending: it starts a rotation that way (Secrets Manager makes an
    /// empty `AWSPENDING` version before its first step event, so its tokens always name one).
    pub(crate) async fn guard(
        &self,
        step: Step,
        ctx: &StepContext,
    ) -> Result<(SecretInfo, Standing), RotationError> {
        let info = match ctx.looked.take_info() {
            Some(info) => info,
            None => (self.store.describe(&ctx.secret_id).await)
                .map_err(|e| RotationError::store(step, e))?,
        };
        // Secrets Manager makes the version before its first step event: only the in-process
        // driver's createSecret makes its own.
        if ctx.driver == Driver::InProcess && makes_its_version(step, &info, &ctx.token) {
            return Ok((info, Standing::Pending));
        }
        let standing = standing(&info, &ctx.token, step, false)?;
        Ok((info, standing))
    }
}

/// True when `step` is createSecret for a token that names no version of the secret while no
/// version is pending: createSecret then makes the version itself.
pub(crate) fn makes_its_version(step: Step, info: &SecretInfo, token: &str) -> bool {
    step == Step::CreateSecret
        && !info.versions.contains_key(token)
        && info.version_with(AWSPENDING).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(pairs: &[(&str, &[&str])]) -> SecretInfo {
        SecretInfo {
            name: "t".into(),
            versions: pairs
                .iter()
                .map(|(v, s)| (v.to_string(), s.iter().map(|x| x.to_string()).collect()))
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn current_token_is_done_pending_proceeds_others_fail() {
        let i = info(&[("a", &[AWSCURRENT]), ("b", &[AWSPENDING]), ("c", &[])]);
        assert_eq!(
            standing(&i, "a", Step::SetSecret, false).unwrap(),
            Standing::AlreadyCurrent
        );
        assert_eq!(
            standing(&i, "b", Step::SetSecret, false).unwrap(),
            Standing::Pending
        );
        let e = standing(&i, "c", Step::SetSecret, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not AWSPENDING"), "{e}");
        let e = standing(&i, "zzz", Step::SetSecret, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a version"), "{e}");
    }

    #[test]
    fn rotation_disabled_is_refused_for_step_events() {
        let mut i = info(&[("b", &[AWSPENDING])]);
        i.rotation_enabled = Some(false);
        assert!(standing(&i, "b", Step::CreateSecret, true).is_err());
        assert!(standing(&i, "b", Step::CreateSecret, false).is_ok());
    }
}
