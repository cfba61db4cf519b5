//! The contract between `rukt` (stage0) and a stage1 engine, interface
//! versions [`MIN_INTERFACE_VERSION`] to [`INTERFACE_VERSION`]. Both sides
//! use this crate and nothing else of each other;
//! `docs/stage1-interface.md` is its prose description.
//!
//! In short: stage0 asks the stage1 which versions it speaks
//! (`interface-version`, [`agree`]) and, from version 2, what it enforces
//! (`features`, [`Stage1Features`]); it prepares a pod directory (the pod
//! manifest, the apps' root filesystems mounted at [`app_rootfs`]), changes
//! into it, leaves the pod lock open on fd [`ENV_LOCK_FD`], and *execs* the
//! stage1 binary with the `run` entrypoint's argv ([`RunArgs::to_argv`]).
//! stage1 keeps the lock open for the pod's whole life, writes [`PID_FILE`],
//! each app's exit status under [`STATUS_DIR`] and [`READY_FILE`], and exits
//! with the pod's exit code (or [`EXIT_STAGE1_FAILURE`]).

#![forbid(unsafe_code)]

pub mod args;
pub mod attach;
pub mod descriptors;
pub mod features;
pub mod isolation;
pub mod layout;
pub mod logfmt;
pub mod manifest;
pub mod net;
#[cfg(feature = "runtime")]
pub mod runtime;
pub mod sdnotify;
pub mod signal;

pub use args::{AppArgs, AppStopArgs, ArgsError, EnterArgs, Entrypoint, GcArgs, RunArgs, StopArgs};
pub use descriptors::{
    ENV_LISTEN_FDNAMES, ENV_LISTEN_FDS, ENV_LISTEN_PID, ENV_NOTIFY_SOCKET, LISTEN_FDS_START,
    ListenFds,
};
pub use features::{Feature, Stage1Features};
pub use isolation::{
    DEFAULT_CAPABILITIES, KvmAccel, KvmOptions, Namespaces, NetMode, Resources, Seccomp,
    SeccompMode, Sharing,
};
pub use layout::{
    APPS_DIR, CACHE_DIR, CONTROL_SOCKET, LOGS_DIR, MANIFEST_LOCK, NET_DIR, OVERLAY_DIR, PID_FILE,
    POD_MANIFEST, POD_RUN_ROOT, READY_FILE, RELEASED_FILE, STAGE0_CACHE, STAGE1_DIR, STATUS_DIR,
    STORE_NET_DIR, VOLUMES_DIR, app_log, app_rootfs, app_started, app_status, app_status_reason,
    cache_dir, net_conf, pod_run_dir, stage1_cache_dir, store_of_pod,
};
pub use manifest::{
    App, AppSecurity, ImageInfo, Mount, PodManifest, Propagation, SeccompProfile, Stage1Info,
    Volume, VolumeKind,
};
pub use net::{
    Dns, DnsSettings, NET_INFO_FILE, NetworkRequest, NetworkResult, PortMapping, Protocol,
};

/// The highest interface version this crate speaks. Version 1 is the
/// first; version 2 adds `features`, mutable pods, networks, descriptors
/// and logs.
pub const INTERFACE_VERSION: u32 = 2;
/// The oldest interface version this crate still speaks.
pub const MIN_INTERFACE_VERSION: u32 = 1;

/// The version a pod is run with: the highest in
/// [`MIN_INTERFACE_VERSION`]`..=`[`INTERFACE_VERSION`] that the stage1
/// lists (`interface-version`); `None` if there is none.
pub fn agree(stage1_versions: &[u32]) -> Option<u32> {
    stage1_versions
        .iter()
        .copied()
        .filter(|v| (MIN_INTERFACE_VERSION..=INTERFACE_VERSION).contains(v))
        .max()
}

/// Environment variable naming the pod lock's file descriptor. stage1 must
/// keep that descriptor open (and locked) until the pod is over; the pod is
/// "running" exactly while someone holds it.
pub const ENV_LOCK_FD: &str = "RUKT_LOCK_FD";

/// Environment variable naming the PID of the cgroup warm-up writer
/// (`rukt_sys::warm::Writer`) stage0 started right before it exec'd an
/// engine that declares [`Feature::CgroupWarmup`]: a child of the engine's
/// process from then on, which the engine takes over and ends (kills and
/// reaps) once it needs no more cgroup migrations soon, and in any case
/// before its apps run. Left alone it ends by itself within half a second,
/// and with the engine's process.
pub const ENV_CGROUP_WARM_PID: &str = "RUKT_CGROUP_WARM_PID";

/// Exit code of a stage1 (or of `rukt`) that failed before the pod's apps
/// could run, as in rkt.
pub const EXIT_STAGE1_FAILURE: u8 = 254;

/// Encodes a wait(2) status as the exit code a shell would show.
pub fn exit_code_from_wait_status(status: i32) -> u8 {
    let signal = status & 0x7f;
    if signal == 0 {
        ((status >> 8) & 0xff) as u8
    } else {
        128u8.saturating_add(signal as u8)
    }
}

/// Whether an app name is acceptable: it names directories and files.
pub fn valid_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_status_to_exit_code() {
        assert_eq!(exit_code_from_wait_status(0), 0);
        assert_eq!(exit_code_from_wait_status(3 << 8), 3);
        assert_eq!(exit_code_from_wait_status(9), 137);
        assert_eq!(exit_code_from_wait_status(15 | 0x80), 143);
    }

    #[test]
    fn agree_picks_the_highest_common_version() {
        assert_eq!(agree(&[1]), Some(1));
        assert_eq!(agree(&[1, 2]), Some(2));
        assert_eq!(agree(&[2, 1]), Some(2));
        assert_eq!(agree(&[1, 2, 3]), Some(2));
        assert_eq!(agree(&[2, 7]), Some(2));
        assert_eq!(agree(&[0, 3]), None);
        assert_eq!(agree(&[]), None);
    }

    #[test]
    fn app_names() {
        assert!(valid_app_name("nginx-1"));
        assert!(!valid_app_name("../x"));
        assert!(!valid_app_name("UPPER"));
        assert!(!valid_app_name(""));
    }
}
