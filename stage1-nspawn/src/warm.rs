//! The supervisor's cgroup warm-up helper ([`rukt_sys::warm`] says why:
//! the first `cgroup.procs` write after a quiet spell waits for an RCU
//! grace period). libcontainer makes that write when it puts an app's
//! first process into its cgroup, the largest single cost of a pod's
//! start, with nothing else to do meanwhile.
//!
//! So once the pod's cgroups exist (the pod's and its apps'), the
//! supervisor forks a helper: it writes `0` (itself) to the `cgroup.procs`
//! of the cgroup it is already in, which moves nothing but starts the grace
//! period, and then writes again every [`PERIOD`], which keeps the kernel
//! in its quick mode (each write ends within a grace period of the last),
//! until the supervisor ends it once every app has joined its cgroup
//! ([`Warm`]'s drop), or [`MAX_WRITES`] later. The supervisor starts it
//! right after loading the pod and goes on meanwhile (the networks' CNI
//! plugins, namespaces, `/etc` files, the bundle, libcontainer's state, its
//! clone and cgroup manager), and libcontainer's writes find the grace
//! period over, however long the supervisor took to get there. The kernel
//! holds its cgroup mutex during the first wait, so nothing may make a
//! cgroup meanwhile: the pod's and the apps' are made before. It is a
//! forked process, not a thread, because libcontainer wants its caller
//! single-threaded; it only opens, writes, sleeps and exits (what is safe
//! after a fork), and the supervisor reaps it with its apps' exits.

use std::ffi::CString;

use rukt_contract::{App, PodManifest};
use rukt_sys::warm::{MAX_WRITES, PERIOD, own_procs_file};

use crate::cgroups::{self, CgroupError, Layout};

/// The running helper; dropping it ends it.
pub struct Warm {
    pid: libc::pid_t,
}

impl Drop for Warm {
    fn drop(&mut self) {
        // Not waited for here: a write in progress finishes first, and the
        // supervisor reaps every child.
        // SAFETY: kill touches no memory; the PID is our unreaped child's.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
    }
}

/// Makes what must exist before `apps`' containers are created, on cgroup
/// v1 their own cgroups (their `/sys/fs/cgroup` binds them, see
/// [`crate::cgview`]; on the start path, because a mkdir after the
/// helper's start would wait for its grace period), then starts the
/// helper; none for no apps (a sandbox's start: nothing joins a cgroup
/// then).
pub fn prepare<'a>(
    layout: Layout,
    pod: &PodManifest,
    apps: impl IntoIterator<Item = &'a App>,
) -> Result<Option<Warm>, CgroupError> {
    let bound = layout == Layout::V1;
    let mut any = false;
    for app in apps {
        any = true;
        if bound {
            cgroups::create_app_v1(&pod.uuid, &app.name)?;
        }
    }
    Ok(if any { start(layout) } else { None })
}

/// Forks the helper; a failure only loses the head start.
fn start(layout: Layout) -> Option<Warm> {
    let path = own_procs_file(layout)?;
    let path = CString::new(path.into_os_string().into_encoded_bytes()).ok()?;
    let pause = libc::timespec {
        tv_sec: 0,
        tv_nsec: PERIOD.as_nanos() as libc::c_long,
    };
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: this process is single-threaded (libcontainer's rule, checked
    // before every container), so the child may run anything; it only calls
    // prctl, getppid, open, pwrite, nanosleep and _exit on memory prepared
    // before the fork.
    match unsafe { libc::fork() } {
        0 => {
            // SAFETY: `path` is a valid C string, `pause` a valid timespec;
            // the descriptor is ours.
            unsafe {
                // Gone with the supervisor, whatever ends it.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd >= 0 {
                    for _ in 0..MAX_WRITES {
                        if libc::getppid() != parent {
                            break;
                        }
                        libc::pwrite(fd, c"0".as_ptr().cast(), 1, 0);
                        libc::nanosleep(&pause, std::ptr::null_mut());
                    }
                }
                libc::_exit(0)
            }
        }
        -1 => {
            tracing::debug!(
                "cannot fork the cgroup warm-up helper: {}",
                std::io::Error::last_os_error()
            );
            None
        }
        pid => Some(Warm { pid }),
    }
}
