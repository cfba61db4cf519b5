//! Pods end to end with the `fly` stage1, as root on real overlayfs: running apps, the pod
//! lifecycle (`list`, `status`, `prepare`, `run-prepared`, `gc`, `rm`, `stop`, `enter`),
//! agents on the host, concurrency and bad input. Every test owns a store (`PodStore`) that
//! removes its pods and mounts when the test ends, also on failure.
//!
//! Needs `rukt` and `rukt-stage1-fly` built next to each other: `cargo build --workspace`.

mod agent;
mod concurrency;
mod errors;
mod images;
pub(crate) mod kvm;
mod kvm_mutable;
mod lifecycle;
mod nspawn;
mod run;
mod stub;
mod systemd;
