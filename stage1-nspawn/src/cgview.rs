//! An app's `/sys/fs/cgroup` on cgroup v1, made by the supervisor just
//! before the app's container ([`make`]): at `cgroup/<app>` in the pod's
//! run directory ([`crate::rundir`]), a read-only tmpfs holding a
//! read-only bind of the app's own cgroup directory in each hierarchy
//! ([`rukt_sys::view::readonly_tree`]), which libcontainer binds whole.
//! libcontainer's own mounts resolve every path safely, about 90 system
//! calls a mount: the tmpfs and nine binds were 800 of the 2000 calls of an
//! app's init. The tree is private, so the container's copy does not
//! depend on the host's: the host's is taken down as soon as the container
//! is made ([`Tree`]'s drop, in a forked child, since an unmount waits for
//! an RCU grace period). One left by a killed supervisor goes with the pod
//! (gc unmounts everything below the pod's run directory).

use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::cgroups;

/// A tree on the host; dropping it takes it down (in the background).
pub struct Tree {
    path: PathBuf,
}

/// The tree for `app` of pod `uuid`, or `None` (the app then gets
/// libcontainer's binds, as without one) when it cannot be made.
pub fn make(pod_dir: &Path, uuid: &str, app: &str) -> Option<Tree> {
    let path = crate::rundir::of(pod_dir).join("cgroup").join(app);
    let dirs = cgroups::app_v1_dirs(uuid, app);
    let binds: Vec<_> = dirs.iter().map(|(n, s)| (*n, s.as_path())).collect();
    let made =
        std::fs::create_dir_all(&path).and_then(|()| rukt_sys::view::readonly_tree(&path, &binds));
    let tree = Tree { path };
    match made {
        Ok(()) => Some(tree),
        Err(e) => {
            tracing::debug!(
                "cannot make {}: {e}; libcontainer binds the app's cgroups",
                tree.path.display()
            );
            None
        }
    }
}

impl Tree {
    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let Ok(path) = CString::new(self.path.as_os_str().as_encoded_bytes()) else {
            return;
        };
        // SAFETY: this process is single-threaded (libcontainer's rule),
        // so the child may run anything; it only calls umount2, rmdir and
        // _exit on memory prepared before the fork. The supervisor reaps
        // every child.
        match unsafe { libc::fork() } {
            // SAFETY: `path` is a valid C string; these calls touch no other
            // memory. Whatever a failed make left goes, all of it
            // (MNT_DETACH takes the binds with the tmpfs), then the empty
            // directory.
            0 => unsafe {
                while libc::umount2(path.as_ptr(), libc::MNT_DETACH) == 0 {}
                libc::rmdir(path.as_ptr());
                libc::_exit(0)
            },
            -1 => tracing::debug!(
                "cannot fork to unmount {}: {}; gc will",
                self.path.display(),
                std::io::Error::last_os_error()
            ),
            _ => {}
        }
    }
}
