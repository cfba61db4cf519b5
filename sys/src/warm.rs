//! Keeping the kernel's cgroup-migration fast path open. Moving a process
//! into a cgroup (a write to `cgroup.procs`, v1 or v2) takes the kernel's
//! global `cgroup_threadgroup_rwsem` for writing, and the first writer
//! after a quiet spell waits for a whole RCU grace period (3-15 ms on the
//! 2-core VMs rukt is built on) while it holds the cgroup mutex; writes
//! that follow within a grace period of the last one are quick (0.1 ms). A
//! write of `0` to the `cgroup.procs` of the cgroup the writer is already
//! in moves nothing but counts as such a write, so writing it every
//! [`PERIOD`] from the moment a migration is known to come keeps the wait
//! off the path of the migration itself.
//!
//! The nspawn supervisor forks such a writer (it must stay single-threaded,
//! libcontainer's rule) over [`own_procs_file`]. A thread doing the same at
//! the start of `rukt cri`'s CreateContainer and ExecSync was tried and
//! bought nothing measurable (`bench/cri.sh`, 20 pods: CreateContainer 25.8
//! -> 26.1 ms, ExecSync 13.9 -> 13.6 ms p50), so it is not there.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cgroupfs::{Layout, ROOT};

/// How often a writer writes: below the shortest grace period seen on
/// these machines (3 ms), so the quick mode never lapses in between.
pub const PERIOD: Duration = Duration::from_millis(2);

/// The most writes a writer makes (about half a second's worth) if nothing
/// ends it sooner.
pub const MAX_WRITES: u32 = 250;

/// The `cgroup.procs` of the cgroup this process is in, in one hierarchy:
/// the first one `/proc/self/cgroup` lists that is mounted under
/// `/sys/fs/cgroup` (a v1 controller's, or the unified one; never a named
/// v1 hierarchy). Any does: the kernel's lock is global.
pub fn own_procs_file(layout: Layout) -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    procs_file_in(&own, layout, Path::new(ROOT))
}

/// [`own_procs_file`] for a `/proc/<pid>/cgroup` text, below `root`.
fn procs_file_in(own: &str, layout: Layout, root: &Path) -> Option<PathBuf> {
    let rel = |p: &str| p.trim().trim_start_matches('/').to_string();
    for line in own.lines() {
        let mut f = line.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        let dir = match (controllers, layout) {
            ("", Layout::Unified) => root.join(rel(path)),
            ("", Layout::V1) => root.join("unified").join(rel(path)),
            (c, Layout::V1) if !c.starts_with("name=") => {
                root.join(c.split(',').next()?).join(rel(path))
            }
            _ => continue,
        };
        let file = dir.join("cgroup.procs");
        if file.exists() {
            return Some(file);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for `/sys/fs/cgroup` on a hybrid host.
    fn tree() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for dir in [
            "unified/user.slice",
            "cpu,cpuacct/rukt",
            "memory/rukt",
            "top",
        ] {
            std::fs::create_dir_all(d.path().join(dir)).unwrap();
            std::fs::write(d.path().join(dir).join("cgroup.procs"), "").unwrap();
        }
        std::os::unix::fs::symlink("cpu,cpuacct", d.path().join("cpu")).unwrap();
        d
    }

    #[test]
    fn hybrid_hosts_use_a_controller_or_else_the_unified_hierarchy() {
        let d = tree();
        let own = "12:name=systemd:/x\n4:cpu,cpuacct:/rukt\n3:memory:/rukt\n0::/user.slice\n";
        assert_eq!(
            procs_file_in(own, Layout::V1, d.path()),
            Some(d.path().join("cpu/rukt/cgroup.procs"))
        );
        let own = "12:name=systemd:/x\n4:cpu,cpuacct:/gone\n0::/user.slice\n";
        assert_eq!(
            procs_file_in(own, Layout::V1, d.path()),
            Some(d.path().join("unified/user.slice/cgroup.procs"))
        );
    }

    #[test]
    fn legacy_hosts_use_the_first_controller_not_a_named_hierarchy() {
        let d = tree();
        let own = "12:name=systemd:/x\n4:cpu,cpuacct:/rukt\n3:memory:/rukt\n";
        assert_eq!(
            procs_file_in(own, Layout::V1, d.path()),
            Some(d.path().join("cpu/rukt/cgroup.procs"))
        );
    }

    #[test]
    fn unified_hosts_use_their_one_line() {
        let d = tree();
        assert_eq!(
            procs_file_in("0::/top\n", Layout::Unified, d.path()),
            Some(d.path().join("top/cgroup.procs"))
        );
        assert_eq!(procs_file_in("0::/gone\n", Layout::Unified, d.path()), None);
    }
}
