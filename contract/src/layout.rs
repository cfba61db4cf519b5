//! The pod directory's layout (`<store>/pods/<state>/<uuid>`) and the
//! store's caches: which file or directory is where, and who writes it. Both
//! sides build every path from these, never from string literals of their
//! own.

use std::path::{Path, PathBuf};

/// The pod manifest, JSON ([`crate::PodManifest`]), in the pod directory.
pub const POD_MANIFEST: &str = "pod";
/// Version 2: the manifest's lock file. Whoever rewrites [`POD_MANIFEST`]
/// of a running pod holds an exclusive `flock` on it and replaces the
/// manifest atomically (temporary file, then rename), so a reader always
/// sees a whole manifest; the manifest and the app directories it names
/// change together only under this lock (an engine's `app-*` handler may
/// take it shared to see both consistently).
pub const MANIFEST_LOCK: &str = "pod.lock";
/// Written by stage1: the PID of the pod's main process, in decimal. Its
/// mtime is the pod's start time.
pub const PID_FILE: &str = "pid";
/// Directory of per-app exit statuses: `status/<app>` holds the exit code in
/// decimal (0–255; 128+N for an app killed by signal N), written atomically.
pub const STATUS_DIR: &str = "status";
/// Written by stage1 once the pod's apps have been started.
pub const READY_FILE: &str = "ready";
/// Written by stage1, last, when its `run` freed everything the pod held
/// outside its directory (cgroups, networks) before exiting. stage0's gc
/// then skips stage1's `gc` entrypoint, which would look for the same
/// things again; without it (a stage1 that was killed, or that does not
/// write it) `gc` runs as always.
pub const RELEASED_FILE: &str = "released";
/// Directory private to stage1, for its own state.
pub const STAGE1_DIR: &str = "stage1";
/// Version 2: where a running pod's supervisor listens for `app-*`
/// requests, by convention (a unix socket). An engine may reach its
/// supervisor otherwise; it lives in [`STAGE1_DIR`] either way.
pub const CONTROL_SOCKET: &str = "stage1/control";
/// Version 2: the host directory of the pods' run directories
/// ([`pod_run_dir`]).
pub const POD_RUN_ROOT: &str = "/run/rukt/pods";
/// Directory of `empty` volumes, `volumes/<name>`, created by stage0.
pub const VOLUMES_DIR: &str = "volumes";
/// Directory of the apps, `apps/<app>/rootfs` ([`app_rootfs`]), made by
/// stage0.
pub const APPS_DIR: &str = "apps";
/// Directory of stage0's per-app overlay directories,
/// `overlay/<app>/{upper,work}`.
pub const OVERLAY_DIR: &str = "overlay";
/// Version 2: directory of per-app log files ([`app_log`]), written by a
/// stage1 that enforces [`crate::Feature::AppLogs`].
pub const LOGS_DIR: &str = "logs";
/// Version 2: the pod's network directory: `net/<name>.conflist`, each
/// network's configuration as stage0 resolved it ([`net_conf`]), and the
/// stage1's record of what it attached (`docs/networking.md`).
pub const NET_DIR: &str = "net";
/// Version 2: the store's network state, `<store>/net`: IPAM leases of the
/// built-in networks and host port reservations, shared by every pod.
pub const STORE_NET_DIR: &str = "net";
/// The directory of the store below which every cache is, `<store>/cache`.
pub const CACHE_DIR: &str = "cache";
/// The owner name of stage0's own cache (the stage1 probe results).
pub const STAGE0_CACHE: &str = "stage0";

/// The root filesystem of `app` inside the pod directory, mounted by stage0.
pub fn app_rootfs(app: &str) -> String {
    format!("{APPS_DIR}/{app}/rootfs")
}

/// The exit status file of `app` inside the pod directory.
pub fn app_status(app: &str) -> String {
    format!("{STATUS_DIR}/{app}")
}

/// Version 2: written (empty) by a stage1 enforcing `mutable-pods` when
/// `app` of a mutable pod starts; its mtime is the start time. In a
/// running mutable pod, an app without it has been added, not started.
pub fn app_started(app: &str) -> String {
    format!("{STATUS_DIR}/{app}.started")
}

/// Why `app` ended, when stage1 knows more than the exit code says
/// (`oom-killed`), inside the pod directory. Optional; one line.
pub fn app_status_reason(app: &str) -> String {
    format!("{STATUS_DIR}/{app}.reason")
}

/// Version 2: the log file of `app` inside the pod directory: its stdout
/// and stderr, as the stage1 received them.
pub fn app_log(app: &str) -> String {
    format!("{LOGS_DIR}/{app}.log")
}

/// Version 2: the configuration of network `name` inside the pod directory,
/// a CNI configuration list (JSON) written by stage0.
pub fn net_conf(name: &str) -> String {
    format!("{NET_DIR}/{name}.conflist")
}

/// The one naming rule for caches: `<store>/cache/<owner>`. stage0's is
/// [`STAGE0_CACHE`]; each engine's is `stage1-<flavor>`
/// ([`stage1_cache_dir`]). Anything in a cache must be safe to delete at
/// any time; its owner creates it when needed.
pub fn cache_dir(store_root: &Path, owner: &str) -> PathBuf {
    store_root.join(CACHE_DIR).join(owner)
}

/// The store holding the pod directory `pod_dir`: `None` unless `pod_dir` is
/// `<store>/pods/<state>/<uuid>`.
pub fn store_of_pod(pod_dir: &Path) -> Option<&Path> {
    let pods = pod_dir.parent()?.parent()?;
    (pods.file_name()? == "pods").then_some(pods.parent()?)
}

/// The cache of the engine `flavor` (`nspawn`, `kvm`, `fly`) in the store
/// holding `pod_dir`: `<store>/cache/stage1-<flavor>`. `None` if `pod_dir`
/// is not laid out as `<store>/pods/<state>/<uuid>`.
pub fn stage1_cache_dir(pod_dir: &Path, flavor: &str) -> Option<PathBuf> {
    store_of_pod(pod_dir).map(|store| cache_dir(store, &format!("stage1-{flavor}")))
}

/// Version 2: the run directory of pod `uuid`, `/run/rukt/pods/<uuid>`,
/// outside the store. A stage1 may keep there the state that means nothing
/// once the pod's processes are gone (the way runc keeps its state in
/// `/run/runc`): `/run` is a tmpfs on most hosts, where files cost no disk
/// writes and a reboot clears them with the processes they described.
/// stage0's gc unmounts whatever is below it and removes it with the pod
/// directory; nothing in it may be needed to gc the pod.
pub fn pod_run_dir(uuid: &str) -> PathBuf {
    Path::new(POD_RUN_ROOT).join(uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_follow_one_rule() {
        let store = Path::new("/var/lib/rukt");
        let pod = store.join("pods/run/0f1e");
        assert_eq!(
            stage1_cache_dir(&pod, "kvm").unwrap(),
            Path::new("/var/lib/rukt/cache/stage1-kvm")
        );
        assert_eq!(
            stage1_cache_dir(&pod, "nspawn").unwrap(),
            Path::new("/var/lib/rukt/cache/stage1-nspawn")
        );
        assert_eq!(
            cache_dir(store, STAGE0_CACHE),
            Path::new("/var/lib/rukt/cache/stage0")
        );
        assert_eq!(stage1_cache_dir(Path::new("/x/y/z"), "kvm"), None);
        assert_eq!(stage1_cache_dir(Path::new("/pods/run"), "kvm"), None);
    }

    #[test]
    fn pod_paths() {
        assert_eq!(app_rootfs("web"), "apps/web/rootfs");
        assert_eq!(app_status("web"), "status/web");
        assert_eq!(app_status_reason("web"), "status/web.reason");
        assert_eq!(app_log("web"), "logs/web.log");
        assert!(CONTROL_SOCKET.starts_with(STAGE1_DIR));
    }

    #[test]
    fn a_run_directory_is_outside_the_store_and_short_enough_for_sockets() {
        let uuid = "0f1e2d3c-aaaa-bbbb-cccc-0123456789ab";
        let dir = pod_run_dir(uuid);
        assert_eq!(dir, Path::new("/run/rukt/pods").join(uuid));
        // A socket address holds 107 bytes: room for a socket's name of 50.
        assert!(dir.as_os_str().len() + 1 + 50 < 108);
    }
}
