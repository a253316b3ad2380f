//! The fleet: which targets a deployment has, and the check of them all. One front door for the
//! Lambda's `check` and `status` and the CLI's.
//!
//! - [`targets`]: where the targets come from ([`Targets`]: a list or a tag, and the rotator's
//!   own credential secret once) and which documents a secret may hold ([`document_refusal`]).
//! - [`admission`]: each checked target's document judged before anything else is read.
//! - [`check`]: the bounded check of many targets ([`FleetCheck`]).
//! - [`report`]: one target's report ([`TargetReport`]) and the whole check's ([`FleetReport`]),
//!   the JSON shape of docs/target-report.schema.json.

pub mod admission;
pub mod check;
pub mod report;
pub mod targets;

pub use admission::Admission;
pub use check::FleetCheck;
pub use report::{FleetReport, State, TargetFailure, TargetReport};
pub use targets::{document_refusal, Member, Targets, TargetsError};
