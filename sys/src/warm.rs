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
//! [`Writer`] is such a writer, a forked process (the nspawn supervisor
//! must stay single-threaded, libcontainer's rule). stage0 starts one right
//! before it execs an engine that declares `cgroup-warmup`
//! ([`Writer::start`]) and names it in `RUKT_CGROUP_WARM_PID`; the engine
//! takes it over ([`Writer::adopt`]) and ends it once its apps have joined
//! their cgroups. So the grace period runs while the engine's binary loads
//! and the engine reads its pod, not after: the engine's first `mkdir` of a
//! cgroup waits for whatever is left of it (the cgroup mutex), and
//! everything after that is quick. A thread doing the same at the start of
//! `rukt cri`'s CreateContainer and ExecSync was tried and bought nothing
//! measurable (`bench/cri.sh`, 20 pods: CreateContainer 25.8 -> 26.1 ms,
//! ExecSync 13.9 -> 13.6 ms p50), so it is not there.

use std::ffi::CString;
use std::os::fd::{FromRawFd, OwnedFd};
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

/// A running writer, a child process of this one; dropping it ends it
/// (unless this process has exec'd meanwhile: then whoever
/// [adopts](Writer::adopt) it ends it).
#[derive(Debug)]
pub struct Writer {
    pid: libc::pid_t,
}

impl Writer {
    /// Forks a writer over [`own_procs_file`]; none where there is no such
    /// file or the fork fails (that only loses the head start). It writes
    /// until it is ended, its parent is gone, or [`MAX_WRITES`] later.
    ///
    /// Any process may call it, threads or not: the child only makes
    /// async-signal-safe calls (`prctl`, `close_range`, `getppid`,
    /// `pwrite`, `nanosleep`, `_exit`) on memory prepared before the fork.
    /// Its first step closes every inherited descriptor but its
    /// `cgroup.procs`.
    pub fn start(layout: Layout) -> Option<Writer> {
        let path = own_procs_file(layout)?;
        let path = CString::new(path.into_os_string().into_encoded_bytes()).ok()?;
        // Opened here, close-on-exec: the child keeps it and nothing else.
        // SAFETY: `path` is a valid C string.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        // SAFETY: `fd` was just opened and is owned here alone.
        let procs = unsafe { OwnedFd::from_raw_fd(fd) };
        let pause = libc::timespec {
            tv_sec: 0,
            tv_nsec: PERIOD.as_nanos() as libc::c_long,
        };
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the child runs only async-signal-safe calls on memory
        // prepared before the fork (see above), then `_exit`s.
        match unsafe { libc::fork() } {
            0 => {
                // SAFETY: plain system calls on values prepared before the
                // fork; the descriptors closed are this process's own copies.
                unsafe {
                    // Gone with its parent's thread, whatever ends it (not
                    // its exec: the PID and thread stay).
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    // No copy of anything the parent holds (the pod lock,
                    // stdio a caller may wait on): only `procs` stays.
                    if fd > 0 {
                        libc::syscall(libc::SYS_close_range, 0u32, (fd - 1) as u32, 0u32);
                    }
                    libc::syscall(libc::SYS_close_range, (fd + 1) as u32, u32::MAX, 0u32);
                    for _ in 0..MAX_WRITES {
                        if libc::getppid() != parent {
                            break;
                        }
                        libc::pwrite(fd, c"0".as_ptr().cast(), 1, 0);
                        libc::nanosleep(&pause, std::ptr::null_mut());
                    }
                    libc::_exit(0)
                }
            }
            -1 => None,
            pid => {
                drop(procs);
                Some(Writer { pid })
            }
        }
    }

    /// Takes over the writer a process started before it exec'd this
    /// program: `pid` (from `RUKT_CGROUP_WARM_PID`) only if it names a
    /// child of this process, never anyone else's process; none otherwise.
    /// A child is never reaped before its parent waits for it, so its PID
    /// cannot have been reused meanwhile (the caller must not have reaped
    /// children it did not know of).
    pub fn adopt(pid: &str) -> Option<Writer> {
        let pid: libc::pid_t = pid.trim().parse().ok().filter(|p| *p > 1)?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // SAFETY: getpid has no preconditions.
        let own = unsafe { libc::getpid() };
        // Built only when it is ours: a dropped Writer kills its PID.
        if parent_in_stat(&stat) == Some(own) {
            Some(Writer { pid })
        } else {
            None
        }
    }

    /// Its PID.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Not waited for here: a write in progress finishes first, and the
        // parent reaps it (the nspawn supervisor reaps every child).
        // SAFETY: kill touches no memory; the PID is our unreaped child's.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
    }
}

/// The parent PID field of a `/proc/<pid>/stat` line.
fn parent_in_stat(stat: &str) -> Option<libc::pid_t> {
    crate::procstat::fields_after_comm(stat)?
        .nth(1)?
        .parse()
        .ok()
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
    fn the_parent_is_read_past_a_command_name_with_spaces_and_parentheses() {
        assert_eq!(parent_in_stat("42 (a) b) S 7 42 42 0"), Some(7));
        assert_eq!(parent_in_stat("42 (true) Z 1 0"), Some(1));
        assert_eq!(parent_in_stat("garbage"), None);
    }

    #[test]
    fn only_a_child_of_this_process_is_adopted() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let adopted = Writer::adopt(&child.id().to_string()).expect("our child");
        assert_eq!(adopted.pid() as u32, child.id());
        // Its drop kills it.
        drop(adopted);
        assert!(!child.wait().unwrap().success());
        // This process itself, PID 1 and nonsense never are.
        assert!(Writer::adopt(&std::process::id().to_string()).is_none());
        assert!(Writer::adopt("1").is_none());
        assert!(Writer::adopt("x").is_none());
    }

    #[test]
    fn a_writer_keeps_only_its_cgroup_procs_and_ends_with_its_drop() {
        let Some(writer) = Writer::start(crate::cgroupfs::Layout::detect()) else {
            // No own cgroup.procs here (not root, no cgroupfs): nothing to see.
            return;
        };
        let pid = writer.pid();
        // Its descriptors, once it has closed the inherited ones.
        let fds = || -> Vec<PathBuf> {
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .map(|d| {
                    d.flatten()
                        .filter_map(|e| std::fs::read_link(e.path()).ok())
                        .collect()
                })
                .unwrap_or_default()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while fds().len() != 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let kept = fds();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert!(kept[0].ends_with("cgroup.procs"), "{kept:?}");
        drop(writer);
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is a valid pointer.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFSIGNALED(status), "{status:#x}");
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
