//! Starting a process inside an app: in the app's cgroup, chrooted into the
//! app's root, in the app's working directory, with the app's capabilities
//! and no_new_privs, as its user and groups, with its environment and
//! `oom_score_adj`, in a session of its own, stdout and stderr on pipes the
//! init relays to the host (stdin too when the host forwards one).

use std::ffi::CString;
use std::io;
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
    // SAFETY: the init is single-threaded, so the forked child is a
    // consistent copy of it and may run any code before exec; the closure
    // only makes system calls on values prepared above.
    unsafe {
        cmd.pre_exec(move || {
            limits::join_cgroup(&procs)?;
            rustix::process::chroot(root.as_c_str())?;
            rustix::process::chdir(workdir.as_c_str()).or_else(|_| rustix::process::chdir(c"/"))?;
            if let Some(oom) = &oom {
                std::fs::write("/proc/self/oom_score_adj", oom)?;
            }
            setsid()?;
            limits::confine(&dropped)?;
            set_ids(&groups, gid, uid)
        });
    }
    cmd.spawn()
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
