//! The Lambda function's entry point, `lambda::route`, invoked with the sample events in
//! `events/` against the Entra and Jamf Pro stand-ins and Secrets Manager and SNS on moto, on
//! virtual time; then the real `bootstrap` binary under cargo lambda's emulator with the same
//! events, and the deployment scripts. Each test reads like the invocation it checks.
//!
//! One test binary (`cargo test --test lambda`); its parts live in `tests/lambda/`:
//! - `harness.rs`: the sample events, the function with its metric lines captured, shared checks.
//! - `route.rs`: `check`, `status` and `rotate` events; a malformed event refused.
//! - `steps.rs`: the four Secrets Manager step events; a failing `testSecret` rolled back.
//! - `admission.rs`: a step event or rotate request for a secret that is not the deployment's
//!   own (a copy of a target's document; a rotator document in a target) refused, nothing
//!   changed, an alert; a rotate request's reason bounded.
//! - `targets.rs`: targets named, found by tag, and one failing its check (an SNS alert).
//! - `emulator.rs`: `bootstrap` under `cargo lambda watch`, invoked over HTTP.
//! - `emulated.rs`: the sample events through that real binary.
//! - `sm_emulation.rs`: Secrets Manager's side emulated in front of that binary (`RotateSecret`,
//!   one invocation per step, duplicated, concurrent, a check between, a retry), with the rule
//!   moto lacks (a new version abandons the rotation) applied on the wire by `sm_proxy.rs`.
//! - `deadlines.rs`: a manual emergency within its invocation's deadline: the revocation proof
//!   cut short and alerted in time; a held lease it has no time to wait for.
//! - `fleet.rs`: the check's deadline gate (a rotation it has no time for is deferred) and the
//!   fan-out (due rotations handed to Secrets Manager, then run as the four step events): the
//!   same scenarios end the same way in process and fanned out.
//! - `fleet_faults.rs`: a check killed just after a hand-off, then a transient error at each of
//!   the next check's calls, the step events never arriving, arriving before it or late.
//! - `scripts.rs`: the deployment scripts parse and print their usage; a dry run runs nothing.
//! - `rehearsal.rs`: `template.yaml` translated by SAM and deployed on moto's CloudFormation; the
//!   real `bootstrap` with the deployed environment rotates on the scheduled check.
//! - `operator.rs`: the operator CLI with exactly the rehearsed stack's configuration
//!   (`scripts/operator-env`), signed in to Entra federated as an operator role Entra trusts
//!   through its own federated credential: `status`, `discover`, `init`, `rotate --lockdown`.
//! - `uninstall.rs`: `scripts/uninstall` lists what the rehearsed stack and the deployment made,
//!   changes nothing in a dry run, and removes the stack but keeps the secrets.

#[path = "../../../tests/common/mod.rs"]
mod common;

#[path = "lambda/admission.rs"]
mod admission;
#[path = "lambda/deadlines.rs"]
mod deadlines;
#[path = "lambda/emulated.rs"]
mod emulated;
#[path = "lambda/emulator.rs"]
mod emulator;
#[path = "lambda/fleet.rs"]
mod fleet;
#[path = "lambda/fleet_faults.rs"]
mod fleet_faults;
#[path = "lambda/harness.rs"]
mod harness;
#[path = "lambda/operator.rs"]
mod operator;
#[path = "lambda/rehearsal.rs"]
mod rehearsal;
#[path = "lambda/route.rs"]
mod route;
#[path = "lambda/scripts.rs"]
mod scripts;
#[path = "lambda/sm_emulation.rs"]
mod sm_emulation;
#[path = "lambda/sm_proxy.rs"]
mod sm_proxy;
#[path = "lambda/steps.rs"]
mod steps;
#[path = "lambda/targets.rs"]
mod targets;
#[path = "lambda/uninstall.rs"]
mod uninstall;
