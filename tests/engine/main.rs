//! The engine's behaviour end to end, against the stand-ins and the in-memory store or moto: rotations, the crash and double-fault matrices, interleavings and races of attempts, the lease, lockdown, retirement, proof of revocation, faults and chaos, and the request counts the benchmark reports.
//!
//! One test binary with a module per area (each links the AWS SDK and the stand-ins once).

#[path = "../common/mod.rs"]
mod common;

mod bench_requests;
mod bindings;
mod chaos;
mod concurrency;
mod crash_matrix;
mod daily_proof;
mod double_faults;
mod faults;
mod fleet;
mod forged_pending;
mod interleavings;
mod lease;
mod lockdown;
mod races;
mod retire;
mod revocation;
mod rotation;
mod self_rotation;
mod step_lease;
