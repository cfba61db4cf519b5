//! The contract between `rukt` (stage0) and a stage1 engine, version
//! [`INTERFACE_VERSION`]. Both sides use this crate and nothing else of
//! each other; `docs/stage1-interface.md` is its prose description.
//!
//! In short: stage0 prepares a pod directory (the pod manifest, the apps'
//! root filesystems mounted at [`app_rootfs`]), changes into it, leaves the
//! pod lock open on fd [`ENV_LOCK_FD`], and *execs* the stage1 binary with
//! the `run` entrypoint's argv ([`RunArgs::to_argv`]). stage1 keeps the lock
//! open for the pod's whole life, writes [`PID_FILE`], each app's exit status
//! under [`STATUS_DIR`] and [`READY_FILE`], and exits with the pod's exit
//! code (or [`EXIT_STAGE1_FAILURE`]).

#![cfg_attr(not(feature = "runtime"), forbid(unsafe_code))]

pub mod args;
pub mod isolation;
pub mod manifest;
#[cfg(feature = "runtime")]
pub mod runtime;

pub use args::{ArgsError, EnterArgs, Entrypoint, GcArgs, RunArgs, StopArgs};
pub use isolation::{
    DEFAULT_CAPABILITIES, KvmAccel, KvmOptions, Namespaces, NetMode, Resources, Seccomp,
    SeccompMode, Sharing,
};
pub use manifest::{App, ImageInfo, Mount, PodManifest, Stage1Info, Volume, VolumeKind};

/// The interface version this crate describes. Version 1 is the first.
pub const INTERFACE_VERSION: u32 = 1;

/// Environment variable naming the pod lock's file descriptor. stage1 must
/// keep that descriptor open (and locked) until the pod is over; the pod is
/// "running" exactly while someone holds it.
pub const ENV_LOCK_FD: &str = "RUKT_LOCK_FD";

/// The pod manifest, JSON ([`PodManifest`]), in the pod directory.
pub const POD_MANIFEST: &str = "pod";
/// Written by stage1: the PID of the pod's main process, in decimal. Its
/// mtime is the pod's start time.
pub const PID_FILE: &str = "pid";
/// Directory of per-app exit statuses: `status/<app>` holds the exit code in
/// decimal (0–255; 128+N for an app killed by signal N), written atomically.
pub const STATUS_DIR: &str = "status";
/// Written by stage1 once the pod's apps have been started.
pub const READY_FILE: &str = "ready";
/// Directory private to stage1, for its own state.
pub const STAGE1_DIR: &str = "stage1";
/// Directory of `empty` volumes, `volumes/<name>`, created by stage0.
pub const VOLUMES_DIR: &str = "volumes";

/// Exit code of a stage1 (or of `rukt`) that failed before the pod's apps
/// could run, as in rkt.
pub const EXIT_STAGE1_FAILURE: u8 = 254;

/// The cache directory a stage1 may use across pods, `<store>/cache/<name>`,
/// for the pod directory `pod_dir` (always `<store>/pods/<state>/<uuid>`).
/// `None` if `pod_dir` is not laid out so. stage1 creates it if needed;
/// anything in it must be safe to delete at any time.
pub fn stage1_cache_dir(pod_dir: &std::path::Path, name: &str) -> Option<std::path::PathBuf> {
    let store = pod_dir.ancestors().nth(3)?;
    let pods = pod_dir.parent()?.parent()?;
    (pods.file_name()? == "pods").then(|| store.join("cache").join(name))
}

/// The root filesystem of `app` inside the pod directory, mounted by stage0.
pub fn app_rootfs(app: &str) -> String {
    format!("apps/{app}/rootfs")
}

/// The exit status file of `app` inside the pod directory.
pub fn app_status(app: &str) -> String {
    format!("{STATUS_DIR}/{app}")
}

/// Why `app` ended, when stage1 knows more than the exit code says
/// (`oom-killed`), inside the pod directory. Optional; one line.
pub fn app_status_reason(app: &str) -> String {
    format!("{STATUS_DIR}/{app}.reason")
}

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
    fn stage1_cache_is_in_the_store() {
        let p = std::path::Path::new("/var/lib/rukt/pods/run/0f1e");
        assert_eq!(
            stage1_cache_dir(p, "kvm").unwrap(),
            std::path::Path::new("/var/lib/rukt/cache/kvm")
        );
        assert_eq!(
            stage1_cache_dir(std::path::Path::new("/x/y/z"), "kvm"),
            None
        );
    }

    #[test]
    fn app_names() {
        assert!(valid_app_name("nginx-1"));
        assert!(!valid_app_name("../x"));
        assert!(!valid_app_name("UPPER"));
        assert!(!valid_app_name(""));
    }
}
