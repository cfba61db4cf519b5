//! Starting the kernel's cgroup-migration grace period early. Moving a
//! process into a cgroup (a write to `cgroup.procs`, v1 or v2) takes the
//! kernel's global `cgroup_threadgroup_rwsem` for writing, and the first
//! writer after a quiet spell waits for a whole RCU grace period (3-15 ms
//! on the 2-core VMs rukt is built on; the writes that follow within about
//! two grace periods are quick, 0.1 ms). libcontainer makes that write when
//! it puts an app's first process into its cgroup, the largest single cost
//! of a pod's start, with nothing else to do meanwhile.
//!
//! So once the pod's cgroup exists, the supervisor forks a helper: it
//! writes `0` (itself) to the `cgroup.procs` of the cgroup it is already in,
//! which moves nothing but starts the grace period, and exits. The
//! supervisor goes on meanwhile (the `/etc` files, the bundle, libcontainer's
//! state, its clone and cgroup manager), and by the time libcontainer
//! writes, the grace period is over or partly so. The kernel holds its
//! cgroup mutex during that wait, so nothing may make a cgroup meanwhile:
//! the pod's is made before, the app's by libcontainer right before its
//! write (and it would wait anyway). The helper only opens, writes and
//! exits (what is safe after a fork); the supervisor reaps it with its
//! apps' exits.

use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::cgroups::Layout;

/// Forks the helper; a failure only loses the head start.
pub fn start(layout: Layout) {
    let Some(path) = own_procs_file(layout) else {
        return;
    };
    let Ok(path) = CString::new(path.into_os_string().into_encoded_bytes()) else {
        return;
    };
    // SAFETY: this process is single-threaded (libcontainer's rule, checked
    // before every container), so the child may run anything; it only calls
    // open, write and _exit on memory prepared before the fork.
    match unsafe { libc::fork() } {
        0 => {
            // SAFETY: `path` is a valid C string; the descriptor is ours.
            unsafe {
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd >= 0 {
                    libc::write(fd, c"0".as_ptr().cast(), 1);
                }
                libc::_exit(0)
            }
        }
        -1 => tracing::debug!(
            "cannot fork the cgroup warm-up helper: {}",
            std::io::Error::last_os_error()
        ),
        _ => {}
    }
}

/// The `cgroup.procs` of the cgroup this process is in, in one hierarchy:
/// the unified one where there is one, else the first v1 hierarchy mounted
/// under `/sys/fs/cgroup`.
fn own_procs_file(layout: Layout) -> Option<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let root = Path::new("/sys/fs/cgroup");
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
