//! The pod's files reach the guest without copying, over virtiofs: one
//! virtiofsd per pod serves `stage1/share`, in which — inside virtiofsd's
//! own mount namespace only, so nothing is mounted on the host and nothing
//! needs unmounting — each app's root (stage0's overlay) is bound at
//! `apps/<app>` and each volume at `volumes/<name>` (read-only volumes
//! read-only: the host enforces it, not the guest). The guest sees nothing
//! else of the pod directory: not the manifest, not the stage1's sockets
//! and PID records.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;
use rukt_contract::{PodManifest, VolumeKind};

use crate::procs;

/// One bind in virtiofsd's namespace.
struct Bind {
    source: CString,
    target: CString,
    read_only: bool,
}

/// The share's directory and what is bound into it.
pub struct Share {
    dir: PathBuf,
    binds: Vec<Bind>,
}

fn cstring(p: &Path) -> anyhow::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).with_context(|| format!("NUL in {}", p.display()))
}

/// Creates `stage1/share` and its mount points for `pod`.
pub fn plan(pod_dir: &Path, stage1: &Path, pod: &PodManifest) -> anyhow::Result<Share> {
    let dir = stage1.join("share");
    // A mutable pod may have nothing to bind yet.
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut binds = Vec::new();
    let mut add = |source: PathBuf, rel: String, read_only: bool| -> anyhow::Result<()> {
        let target = dir.join(rel);
        std::fs::create_dir_all(&target)
            .with_context(|| format!("cannot create {}", target.display()))?;
        binds.push(Bind {
            source: cstring(&source)?,
            target: cstring(&target)?,
            read_only,
        });
        Ok(())
    };
    for app in &pod.apps {
        let root = pod_dir.join(rukt_contract::app_rootfs(&app.name));
        add(
            root,
            format!("{}/{}", rukt_contract::APPS_DIR, app.name),
            false,
        )?;
    }
    for v in &pod.volumes {
        let source = match &v.kind {
            VolumeKind::Host { source } => source.clone(),
            VolumeKind::Empty => pod_dir.join(rukt_contract::VOLUMES_DIR).join(&v.name),
        };
        if !source.is_dir() {
            anyhow::bail!(
                "volume {:?}: {} is not a directory",
                v.name,
                source.display()
            );
        }
        add(source, format!("volumes/{}", v.name), v.read_only)?;
    }
    Ok(Share { dir, binds })
}

/// Starts virtiofsd on `listener` (a listening unix socket qemu connects
/// to), tied to this process; its log goes to `log`.
pub fn spawn(
    virtiofsd: &Path,
    share: Share,
    listener: &OwnedFd,
    log: &Path,
) -> anyhow::Result<Child> {
    let fd = listener.as_raw_fd();
    let log =
        std::fs::File::create(log).with_context(|| format!("cannot create {}", log.display()))?;
    let mut cmd = Command::new(virtiofsd);
    cmd.arg(format!("--fd={fd}"))
        .arg("-o")
        .arg(format!("source={}", share.dir.display()))
        .args([
            "-o",
            "cache=auto",
            "-o",
            "announce_submounts",
            "-o",
            "log_level=warn",
        ])
        .args(["--thread-pool-size=0", "--rlimit-nofile=0"])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    procs::tie_to_us(&mut cmd);
    let binds = share.binds;
    // SAFETY: between fork and exec the closure only makes system calls
    // (unshare, mount, fcntl) on values prepared before the fork.
    unsafe {
        cmd.pre_exec(move || {
            rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS)?;
            mount(None, c"/", libc::MS_REC | libc::MS_SLAVE)?;
            for b in &binds {
                mount(Some(&b.source), &b.target, libc::MS_BIND | libc::MS_REC)?;
                if b.read_only {
                    mount(
                        None,
                        &b.target,
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                    )?;
                }
            }
            // The listener is inherited: clear its close-on-exec flag.
            rustix::io::fcntl_setfd(
                std::os::fd::BorrowedFd::borrow_raw(fd),
                rustix::io::FdFlags::empty(),
            )?;
            Ok(())
        });
    }
    cmd.spawn()
        .with_context(|| format!("cannot start {}", virtiofsd.display()))
}

fn mount(
    source: Option<&CString>,
    target: &std::ffi::CStr,
    flags: libc::c_ulong,
) -> io::Result<()> {
    let src = source.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: the strings are NUL-terminated and outlive the call; no
    // filesystem type or data is passed.
    let r = unsafe {
        libc::mount(
            src,
            target.as_ptr(),
            std::ptr::null(),
            flags,
            std::ptr::null(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
