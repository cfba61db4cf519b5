//! The safe recursive unmount against real mounts, as root (as the fly
//! stage1's tests: CI runs the suite as root). Each test re-runs itself in a
//! mount namespace of its own (`unshare -m`, everything private there), so
//! the host's mounts and their propagation are never touched; inside, a
//! tmpfs plays the host's shared `/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};

/// Set in the re-run test process, to the test's name.
const INNER: &str = "RUKT_SYS_TEST_IN_NAMESPACE";

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the rukt-sys unmount tests mount things: run them as root"
    );
}

/// Whether we are the re-run inside the private namespace; if not, re-runs
/// test `name` there and checks that it ran and passed.
fn in_own_mount_namespace(name: &str) -> bool {
    if std::env::var_os(INNER).is_some() {
        return true;
    }
    require_root();
    let out = Command::new("unshare")
        .args(["-m", "--"])
        .arg(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1", "--nocapture"])
        .env(INNER, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in its own mount namespace: {stdout}\n{stderr}"
    );
    false
}

/// A "host" whose mounts are shared (as `/` is under systemd), holding a
/// mount `data` with a submount `data/sub`, and a pod directory (a mount of
/// its own) where a recursive bind of `data` makes peers of both.
struct Host {
    _tmp: tempfile::TempDir,
    host: PathBuf,
    pod: PathBuf,
}

impl Host {
    fn new() -> Host {
        let tmp = tempfile::tempdir().unwrap();
        let host = tmp.path().join("host");
        std::fs::create_dir(&host).unwrap();
        tmpfs(&host);
        rustix::mount::mount_change(&host, MountPropagationFlags::SHARED).unwrap();
        let pod = host.join("pod");
        for dir in [host.join("data"), pod.clone()] {
            std::fs::create_dir(&dir).unwrap();
            tmpfs(&dir);
        }
        std::fs::create_dir(host.join("data/sub")).unwrap();
        tmpfs(&host.join("data/sub"));
        // As stage0's overlay, a mount of its own (shared too, under `host`).
        std::fs::create_dir(pod.join("rootfs")).unwrap();
        tmpfs(&pod.join("rootfs"));
        std::fs::create_dir(pod.join("rootfs/data")).unwrap();
        rustix::mount::mount_bind_recursive(host.join("data"), pod.join("rootfs/data")).unwrap();
        let host = Host {
            _tmp: tmp,
            host,
            pod,
        };
        assert!(host.mounted(&host.pod.join("rootfs/data/sub")));
        host
    }

    /// Whether `point` is a mount point, as util-linux's `findmnt` reads
    /// this namespace's mount table: an oracle independent of the parser
    /// under test.
    fn mounted(&self, point: &Path) -> bool {
        mount_points().iter().any(|m| m == point)
    }

    /// The host's own mounts, which nothing done below the pod may reach.
    fn host_mounts_intact(&self) -> bool {
        self.mounted(&self.host.join("data")) && self.mounted(&self.host.join("data/sub"))
    }
}

/// Every mount point of this mount namespace, from `findmnt` (which reads
/// `/proc/self/mountinfo` with libmount).
fn mount_points() -> Vec<std::path::PathBuf> {
    let out = std::process::Command::new("findmnt")
        .args(["--raw", "--noheadings", "--output", "TARGET"])
        .output()
        .expect("cannot run findmnt");
    assert!(out.status.success(), "findmnt failed: {}", out.status);
    String::from_utf8(out.stdout)
        .expect("findmnt printed UTF-8")
        .lines()
        // --raw writes a space as \x20; these paths have none.
        .map(std::path::PathBuf::from)
        .collect()
}

fn tmpfs(dir: &Path) {
    rustix::mount::mount("tmpfs", dir, "tmpfs", MountFlags::empty(), None).unwrap();
}

/// The fixture is one where the hazard is real: a plain lazy unmount of the
/// pod's copies, deepest first, takes the host's `data/sub` with it.
#[test]
fn a_plain_detach_below_the_pod_reaches_the_host() {
    if !in_own_mount_namespace("a_plain_detach_below_the_pod_reaches_the_host") {
        return;
    }
    let host = Host::new();
    for point in rukt_sys::unmount::mounts_below(&host.pod).unwrap() {
        rustix::mount::unmount(&point, UnmountFlags::DETACH).unwrap();
    }
    assert!(host.mounted(&host.host.join("data")));
    assert!(!host.mounted(&host.host.join("data/sub")));
}

#[test]
fn unmount_below_never_reaches_a_peer_host_mount() {
    if !in_own_mount_namespace("unmount_below_never_reaches_a_peer_host_mount") {
        return;
    }
    let host = Host::new();
    let below = rukt_sys::unmount::mounts_below(&host.pod).unwrap();
    assert_eq!(
        below,
        [
            host.pod.join("rootfs/data/sub"),
            host.pod.join("rootfs/data"),
            host.pod.join("rootfs"),
            host.pod.clone(),
        ]
    );
    rukt_sys::unmount::unmount_below(&host.pod).unwrap();
    assert!(
        rukt_sys::unmount::mounts_below(&host.pod)
            .unwrap()
            .is_empty()
    );
    assert!(
        !mount_points().iter().any(|m| m.starts_with(&host.pod)),
        "findmnt still sees mounts below the pod"
    );
    assert!(host.host_mounts_intact());
    // Idempotent.
    rukt_sys::unmount::unmount_below(&host.pod).unwrap();
}

#[test]
fn unmount_inside_keeps_the_directory_and_the_host() {
    if !in_own_mount_namespace("unmount_inside_keeps_the_directory_and_the_host") {
        return;
    }
    let host = Host::new();
    let rootfs = host.pod.join("rootfs");
    // Stacked: two mounts on one point.
    std::fs::create_dir(rootfs.join("x")).unwrap();
    tmpfs(&rootfs.join("x"));
    tmpfs(&rootfs.join("x"));
    rukt_sys::unmount::unmount_inside(&rootfs).unwrap();
    assert!(
        rukt_sys::unmount::mounts_inside(&rootfs)
            .unwrap()
            .is_empty()
    );
    assert!(host.mounted(&rootfs));
    assert!(host.host_mounts_intact());
}
