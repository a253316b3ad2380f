//! How long a rotation may take, and so how a due one starts: in this process, handed to
//! Secrets Manager, or deferred to the next check.
//!
//! ## The budget ([`Budget`])
//!
//! After the propagation wait a rotation makes, in order: two Secrets Manager reads and the
//! lease's write (setSecret makes sure no other rotation took over), Jamf Pro's write of the new
//! secret and its read back, Jamf Pro's test (after the observation window, for
//! `conditional-access`), the stage move (finishSecret) and the removal of the old credential
//! (Graph `removePassword`). When the services answer, these take seconds. The budget assumes one
//! of them at its worst, a Graph call through every retry ([`Settings::worst_call`]: 4 attempts
//! of `HTTP_TIMEOUT_SECS` and 3 waits at the backoff's 30 s cap, 210 s by default), and then the
//! rollback that failure starts: Jamf Pro given the old secret back and the new credential
//! removed, one attempt each (2 × `HTTP_TIMEOUT_SECS`, 60 s). That is 270 s of calls by default;
//! with the 60 s `DEADLINE_MARGIN_SECS` kept for the report, a 330 s margin. A rollback whose own
//! calls fail says so in its alert, and the next check's housekeeping removes what it left.
//!
//! A rotation in process needs the propagation wait, the verification window and the margin in
//! one invocation (300 + 0 + 330 = 630 s for `smtp-graph` by default); a rotation Secrets Manager
//! drives needs, per step invocation, the longer of the two waits and the margin. Lambda gives
//! an invocation 900 s at most ([`LAMBDA_TIMEOUT_SECS`]): what can never fit is refused at `init`
//! and at the function's start ([`Budget::never_fits`]).

use super::{Engine, Policy};
use crate::config::{RotationMode, Settings, LAMBDA_TIMEOUT_SECS};
use crate::document::TargetDocument;
use std::time::Duration;

/// How a due rotation starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// In this process, now.
    InProcess,
    /// Handed to Secrets Manager.
    HandOff,
    /// Not now: the next check starts it.
    Defer,
}

/// How a due rotation starts in `mode`: `fits` when it can finish before the deadline,
/// `can_hand_off` when there is a rotation function and no half-done rotation (which
/// `RotateSecret` refuses while `AWSPENDING` is on it: such a one is resumed in process).
pub fn how_to_start(mode: RotationMode, fits: bool, can_hand_off: bool) -> Start {
    match (mode, fits, can_hand_off) {
        (RotationMode::FanOut, _, true) => Start::HandOff,
        (RotationMode::Auto, false, true) => Start::HandOff,
        (_, true, _) => Start::InProcess,
        (_, false, _) => Start::Defer,
    }
}

/// A target's worst case against Lambda's 900 s (see the module's docs for the figures).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// `PROPAGATION_TIMEOUT_SECS`: the longest wait for Entra to accept the new secret.
    pub propagation: Duration,
    /// The target's verification window (the Conditional Access observation).
    pub window: Duration,
    /// The calls after the waits at their worst: one call through every retry, then the
    /// rollback's two calls at one attempt each.
    pub calls: Duration,
    /// `DEADLINE_MARGIN_SECS`: what the invocation keeps for its report.
    pub reserve: Duration,
}

impl Budget {
    /// The budget of a target whose verification window is `window`, under `policy`.
    pub fn new(policy: &Policy, window: Duration) -> Self {
        Self {
            propagation: policy.propagation_timeout,
            window,
            calls: policy.worst_call + policy.http_timeout * 2,
            reserve: policy.deadline_margin,
        }
    }

    /// The budget of the target `doc` under the settings `settings` (`init`'s check).
    pub fn of(settings: &Settings, doc: &TargetDocument) -> Self {
        Self::new(&Policy::from_settings(settings), doc.verification_window())
    }

    /// Everything after the waits: the calls and the report.
    pub fn margin(&self) -> Duration {
        self.calls + self.reserve
    }

    /// A rotation in process: both waits and the margin, in one invocation.
    pub fn in_process(&self) -> Duration {
        self.propagation + self.window + self.margin()
    }

    /// The longest step invocation (setSecret's propagation wait or testSecret's observation)
    /// and the margin.
    pub fn step(&self) -> Duration {
        self.propagation.max(self.window) + self.margin()
    }

    /// Why a target with this budget can never rotate under `mode`, with the arithmetic: a step
    /// invocation that cannot fit in Lambda's 900 s (every mode may resume a rotation Secrets
    /// Manager started), or, in `in-process` mode, a rotation in process that cannot.
    pub fn never_fits(&self, mode: RotationMode) -> Option<String> {
        let limit = LAMBDA_TIMEOUT_SECS;
        let s = |d: Duration| d.as_secs();
        let (margin, window) = (s(self.margin()), s(self.window));
        if s(self.step()) > limit {
            let (wait, what) = if self.window > self.propagation {
                (window, "observation (testSecret)")
            } else {
                (s(self.propagation), "propagation (setSecret)")
            };
            return Some(format!(
                "a step invocation needs {wait} s {what} + {margin} s margin = {} s > {limit} s, Lambda's limit; lower it to at most {} s",
                s(self.step()),
                limit.saturating_sub(margin)
            ));
        }
        if mode == RotationMode::InProcess && s(self.in_process()) > limit {
            return Some(format!(
                "a rotation in process needs {} s propagation + {window} s observation + {margin} s margin = {} s > {limit} s, Lambda's limit; set ROTATION_MODE to auto or fan-out (one step per invocation), or shorten the observation",
                s(self.propagation),
                s(self.in_process())
            ));
        }
        None
    }
}

/// Why no rotation can ever fit one invocation under `settings` (even a target with no
/// verification window), with the arithmetic: the function refuses to start with them.
pub fn settings_never_fit(settings: &Settings) -> Option<String> {
    Budget::new(&Policy::from_settings(settings), Duration::ZERO)
        .never_fits(settings.rotation_mode)
        .map(|why| format!("these settings can never fit an invocation: {why}"))
}

impl Engine {
    /// The time a rotation of the target `doc` may take in process: the propagation wait, the
    /// target's verification window, and its calls at their worst ([`Budget`]); the check keeps
    /// `DEADLINE_MARGIN_SECS` for its report on top.
    pub fn rotation_budget(&self, doc: &TargetDocument) -> chrono::Duration {
        let budget = Budget::new(&self.policy, doc.verification_window());
        let rotation = budget.in_process() - budget.reserve;
        chrono::Duration::from_std(rotation).unwrap_or(chrono::Duration::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::MAX_OBSERVATION_SECS;

    /// A conditional-access document watching `observation` seconds.
    fn conditional_access(observation: u64) -> Result<TargetDocument, String> {
        let text = format!(
            r#"{{"schema":1,"entra":{{"cloud":"global","tenant_id":"contoso.onmicrosoft.com",
              "client_id":"11111111-1111-1111-1111-111111111111","client_secret":"Zq8~verysecretvalue",
              "key_id":"33333333-3333-3333-3333-333333333333"}},
              "jamf":{{"url":"https://example.jamfcloud.com","target":"conditional-access",
              "credentials_secret_id":"jamf/creds","observation_secs":{observation}}}}}"#
        );
        TargetDocument::parse(&text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_margin_is_one_call_at_its_worst_the_rollback_and_the_report() {
        let settings = Settings::default();
        assert_eq!(settings.worst_call().as_secs(), 4 * 30 + 3 * 30);
        let budget = Budget::new(&Policy::from_settings(&settings), Duration::ZERO);
        assert_eq!(budget.calls.as_secs(), 210 + 2 * 30);
        assert_eq!(budget.margin().as_secs(), 270 + 60);
        assert_eq!(budget.in_process().as_secs(), 300 + 330);
        assert_eq!(budget.step().as_secs(), 300 + 330);
        // A longer HTTP timeout lengthens every attempt and the rollback's calls.
        let slow = Settings {
            http_timeout: Duration::from_secs(60),
            ..Settings::default()
        };
        let budget = Budget::new(&Policy::from_settings(&slow), Duration::ZERO);
        assert_eq!(budget.calls.as_secs(), (4 * 60 + 3 * 30) + 2 * 60);
    }

    #[test]
    fn a_budget_that_can_never_fit_is_refused_with_the_arithmetic() {
        let settings = Settings::default();
        let doc = conditional_access(500).unwrap();
        let budget = Budget::of(&settings, &doc);
        // One step at a time it fits (500 + 330 = 830 s); in process it never does.
        assert_eq!(budget.never_fits(RotationMode::Auto), None);
        assert_eq!(budget.never_fits(RotationMode::FanOut), None);
        let why = budget.never_fits(RotationMode::InProcess).unwrap();
        assert!(
            why.contains("300 s propagation + 500 s observation + 330 s margin = 1130 s > 900 s"),
            "{why}"
        );
        assert!(why.contains("ROTATION_MODE"), "{why}");
        // Settings whose propagation wait alone cannot fit with the margin, in any mode.
        let long = Settings {
            propagation_timeout: Duration::from_secs(600),
            ..Settings::default()
        };
        let why = Budget::new(&Policy::from_settings(&long), Duration::ZERO)
            .never_fits(RotationMode::FanOut)
            .unwrap();
        assert!(
            why.contains("600 s propagation (setSecret) + 330 s margin = 930 s > 900 s"),
            "{why}"
        );
        assert!(why.contains("at most 570 s"), "{why}");
        // The function's start refuses them; the defaults pass.
        let refused = settings_never_fit(&long).unwrap();
        assert!(refused.contains("930 s > 900 s"), "{refused}");
        assert_eq!(settings_never_fit(&Settings::default()), None);
    }

    #[test]
    fn the_longest_observation_a_document_may_ask_for_just_fits_a_step() {
        let doc = conditional_access(MAX_OBSERVATION_SECS).unwrap();
        let budget = Budget::of(&Settings::default(), &doc);
        assert_eq!(budget.step().as_secs(), LAMBDA_TIMEOUT_SECS);
        assert_eq!(budget.never_fits(RotationMode::Auto), None);
        let e = conditional_access(MAX_OBSERVATION_SECS + 1).unwrap_err();
        assert!(
            e.contains("observation_secs is 571") && e.contains("at most 570"),
            "{e}"
        );
    }

    #[test]
    fn a_rotation_starts_in_process_when_it_fits_and_is_handed_off_or_deferred_otherwise() {
        use RotationMode::{Auto, FanOut};
        use Start::{Defer, HandOff, InProcess};
        let only = RotationMode::InProcess;
        // (mode, fits, can hand off) → start
        let table = [
            (Auto, true, true, InProcess),
            (Auto, false, true, HandOff),
            (Auto, false, false, Defer),
            (Auto, true, false, InProcess),
            (only, true, true, InProcess),
            (only, false, true, Defer),
            (FanOut, true, true, HandOff),
            (FanOut, false, true, HandOff),
            // A half-done rotation (or no rotation function) cannot be handed off.
            (FanOut, true, false, InProcess),
            (FanOut, false, false, Defer),
        ];
        for (mode, fits, can, want) in table {
            assert_eq!(how_to_start(mode, fits, can), want, "{mode:?} {fits} {can}");
        }
    }
}
