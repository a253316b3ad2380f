//! The product as a whole: the CLI, the cross-checks between code, template.yaml and README (IAM, environment), the template itself, the extension guide held to the code, and `discover`.
//!
//! One test binary with a module per area (each links the AWS SDK and the stand-ins once).

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod crosscheck;
mod discover;
mod exit_codes;
mod extending;
mod fleet;
mod invoke;
mod layering;
mod onboarding;
mod progress;
mod readme;
mod release;
mod report_schema;
mod rotate_safety;
mod template;
