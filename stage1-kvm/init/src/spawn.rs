//! Starting a process inside an app: in the app's cgroup, chrooted into the
//! app's root, in the app's working directory, with the app's capabilities
//! and no_new_privs, as its user and groups, with its environment and
//! `oom_score_adj`, in a session of its own, stdout and stderr on pipes the
//! init relays to the host (stdin too when the host forwards one), and
//! socket activation's descriptors from 3 on for the app that gets them.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};

use rukt_contract::App;

use crate::limits;

/// What to start.
pub struct Spec<'a> {
    /// The app's root in the guest.
    pub root: &'a str,
    /// The app (user, groups, working directory, environment).
    pub app: &'a App,
    /// argv.
    pub argv: &'a [String],
    /// Environment entries added to the app's (`NAME=value`).
    pub extra_env: &'a [String],
    /// Give it a stdin pipe (else `/dev/null`).
    pub stdin: bool,
    /// Descriptors it gets from 3 on (socket activation).
    pub listen: &'a [BorrowedFd<'a>],
}

/// Starts the process; an exec failure is an error here (std reports it
/// from the child).
pub fn spawn(spec: &Spec<'_>) -> io::Result<Child> {
    let Some((program, args)) = spec.argv.split_first() else {
        return Err(io::Error::other("empty command"));
    };
    let mut cmd = Command::new(program);
    cmd.args(args).env_clear();
    for entry in spec.app.environment.iter().chain(spec.extra_env) {
        if let Some((k, v)) = entry.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(if spec.stdin {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());

    let root = CString::new(spec.root)?;
    let workdir = CString::new(spec.app.working_dir.as_str())?;
    let groups: Vec<libc::gid_t> = spec.app.supplementary_gids.clone();
    let (uid, gid) = (spec.app.uid, spec.app.gid);
    let oom = spec.app.oom_score_adj.map(|v| v.to_string());
    let procs = CString::new(format!(
        "{}/cgroup.procs",
        limits::cgroup_dir(&spec.app.name)
    ))?;
    let dropped = limits::dropped_capabilities(spec.app);
    let no_new_privs = !spec.app.security.allow_new_privileges;
    let listen: Vec<RawFd> = spec.listen.iter().map(|f| f.as_raw_fd()).collect();
    // SAFETY: the init is single-threaded, so the forked child is a
    // consistent copy of it and may run any code before exec; the closure
    // only makes system calls on values prepared above.
    unsafe {
        cmd.pre_exec(move || {
            limits::join_cgroup(&procs)?;
            place_fds(&listen)?;
            rustix::process::chroot(root.as_c_str())?;
            rustix::process::chdir(workdir.as_c_str()).or_else(|_| rustix::process::chdir(c"/"))?;
            if let Some(oom) = &oom {
                std::fs::write("/proc/self/oom_score_adj", oom)?;
            }
            setsid()?;
            limits::confine(&dropped, no_new_privs)?;
            set_ids(&groups, gid, uid)
        });
    }
    cmd.spawn()
}

/// In the child: `fds` at 3, 4, ... without close-on-exec (every other
/// descriptor of the init is close-on-exec). Copied out of the way first,
/// so a source that is itself a target is not overwritten before its turn.
fn place_fds(fds: &[RawFd]) -> io::Result<()> {
    let mut high = Vec::with_capacity(fds.len());
    for &fd in fds {
        // SAFETY: F_DUPFD_CLOEXEC on a descriptor we own makes a new one;
        // no memory is involved.
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 64) };
        if copy < 0 {
            return Err(io::Error::last_os_error());
        }
        high.push(copy);
    }
    for (i, copy) in high.into_iter().enumerate() {
        // SAFETY: dup2 onto a small number in the child about to exec; the
        // new descriptor is not close-on-exec, which is the point.
        if unsafe { libc::dup2(copy, 3 + i as RawFd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn setsid() -> io::Result<()> {
    rustix::process::setsid()?;
    Ok(())
}

/// setgroups, setgid, setuid, for the whole (single-threaded) process.
fn set_ids(groups: &[libc::gid_t], gid: u32, uid: u32) -> io::Result<()> {
    // SAFETY: `groups` is a valid slice for the length given.
    if unsafe { libc::setgroups(groups.len(), groups.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: plain system call wrappers with integer arguments.
    if unsafe { libc::setgid(gid) } != 0 || unsafe { libc::setuid(uid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
