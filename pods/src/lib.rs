//! `rukt-pods`: the pod lifecycle without a daemon, as a library. Each pod is
//! a directory under `<dir>/pods/<state>/`, moved between states by atomic
//! rename and guarded by a `flock` on the directory (`docs/pod-lifecycle.md`).
//!
//! It takes typed requests ([`PodSpec`], [`RunOptions`], [`StopOptions`],
//! [`GcOptions`], ...) and owns every verb's logic: prepare, run, status and
//! wait, stop, enter, gc, rm, and the policy for removing images pods use.
//! Every call into a stage1 goes through one handle, [`Stage1`]. What it
//! changes it records in the store's event journal ([`events`]).
//!
//! Front-ends sit on top: the `rukt` command line (`stage0/`) and the coming
//! long-running services. This crate depends on `rukt-contract` and
//! `rukt-images` (and the system floor), never on a command-line parser; it
//! logs through `tracing` and never prints.

#![forbid(unsafe_code)]

pub mod app;
mod app_build;
pub mod app_status;
pub mod attach;
pub mod cgroup_parent;
pub mod enter;
pub mod events;
pub mod exe_guard;
pub mod features;
pub mod gc;
pub mod id;
pub mod images;
pub mod inspect;
pub mod logs;
pub mod logwatch;
pub mod measure;
pub mod mount;
pub mod network;
pub mod pod;
pub mod prepare;
pub mod remove;
pub mod run;
pub mod sandbox;
pub mod spec;
pub mod stage1;
pub mod state;
pub mod status;
pub mod stop;
pub mod sysctl;
pub mod user;

pub use enter::{EnterRequest, enter};
pub use features::Unsupported;
pub use gc::{GcOptions, GcReport, gc, rm};
pub use id::PodUuid;
pub use logs::{LogLine, LogQuery, LogsError, logs, logs_with};
pub use network::{CheckError, check_network};
pub use pod::{Pod, PodError, Pods};
pub use prepare::{PrepareError, Preparing, prepare};
pub use run::{RunError, RunOptions, run_prepared, run_preparing};
pub use spec::{AppSpec, HostMount, PodSpec, PortSpec, VolumeSpec};
pub use stage1::{Stage1, Stage1Error};
pub use state::{Dir, State};
pub use status::{AppStatus, PodStatus, WaitError, status, wait};
pub use stop::{StopOptions, StopOutcome, stop};
