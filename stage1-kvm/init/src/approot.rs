//! An app's root inside the guest: its directory in the share
//! (`/rukt/apps/<app>`, the overlay stage0 mounted on the host), made a
//! mount point of its own, with the guest's `/dev`, a `/proc`, `/sys`, a
//! `/tmp`, the app's volumes and the pod's `/etc` files mounted in it,
//! then made read-only if the
//! app asks for it. Mount targets are resolved inside the app's root
//! (`RESOLVE_IN_ROOT`), so an image's symlinks cannot point them elsewhere.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Component, Path};

use rukt_contract::sdnotify::APP_SOCKET;
use rukt_contract::{App, Volume};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{MountFlags, mount, mount_bind, mount_bind_recursive, mount_remount};

use crate::boot::{SHARE, with_context};

/// The path of `app`'s root in the guest.
pub fn path(app: &str) -> String {
    format!("{SHARE}/apps/{app}")
}

/// The guest path of `rel`, a directory of the share.
pub fn in_share(rel: &str) -> String {
    format!("{SHARE}/{rel}")
}

/// Mounts what `app` needs in its root `root` (a directory of the share),
/// the pod's `/etc` files (`etc`) included, and `notify_dir` read-only at
/// the notification socket's directory (`--sd-notify=app`); returns the
/// root's path.
pub fn prepare(
    app: &App,
    root: String,
    volumes: &[Volume],
    etc: &[(String, String)],
    notify_dir: Option<&str>,
) -> io::Result<String> {
    mount_bind(&root, &root).map_err(|e| with_context(e, &format!("bind {root}")))?;
    let root_fd = rustix::fs::open(
        &root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| with_context(e, &format!("open {root}")))?;
    let nosuid = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    let target = dir_in_root(&root_fd, "/dev")?;
    mount_bind_recursive("/dev", fd_path(&target)).map_err(|e| with_context(e, "bind /dev"))?;
    for (fstype, at, flags) in [
        ("proc", "/proc", nosuid),
        ("sysfs", "/sys", nosuid | MountFlags::RDONLY),
        ("tmpfs", "/tmp", MountFlags::NOSUID | MountFlags::NODEV),
    ] {
        let target = dir_in_root(&root_fd, at)?;
        mount(fstype, fd_path(&target), fstype, flags, None)
            .map_err(|e| with_context(e, &format!("mount {fstype} on {at}")))?;
    }
    for m in &app.mounts {
        let Some(volume) = volumes.iter().find(|v| v.name == m.volume) else {
            return Err(io::Error::other(format!("no volume {:?}", m.volume)));
        };
        let source = format!("{SHARE}/volumes/{}", volume.name);
        let target = dir_in_root(&root_fd, &m.target)?;
        let at = fd_path(&target);
        mount_bind_recursive(&source, &at).map_err(|e| {
            with_context(e, &format!("bind volume {} on {}", volume.name, m.target))
        })?;
        if volume.read_only {
            // `at` names the directory under the bind; a fresh lookup
            // crosses into the bind mount itself.
            let mounted = dir_in_root(&root_fd, &m.target)?;
            mount_remount(fd_path(&mounted), MountFlags::BIND | MountFlags::RDONLY, "")
                .map_err(|e| with_context(e, &format!("make {} read-only", m.target)))?;
        }
    }
    if !etc.is_empty() {
        let etc_dir = dir_in_root(&root_fd, "/etc")?;
        crate::etc::bind(&root_fd, &etc_dir, etc)?;
    }
    if let Some(dir) = notify_dir {
        let at = Path::new(APP_SOCKET).parent().expect("a directory");
        let at = at.to_str().expect("a UTF-8 path");
        let target = dir_in_root(&root_fd, at)?;
        mount_bind(dir, fd_path(&target)).map_err(|e| with_context(e, "bind the notify socket"))?;
        let mounted = dir_in_root(&root_fd, at)?;
        mount_remount(
            fd_path(&mounted),
            MountFlags::BIND | MountFlags::RDONLY | nosuid,
            "",
        )
        .map_err(|e| with_context(e, "make the notify socket's directory read-only"))?;
    }
    if app.readonly_rootfs {
        mount_remount(&root, MountFlags::BIND | MountFlags::RDONLY, "")
            .map_err(|e| with_context(e, "make the root filesystem read-only"))?;
    }
    Ok(root)
}

/// Detaches an app's root and everything mounted in it (`app-rm`).
pub fn release(root: &str) -> io::Result<()> {
    match rustix::mount::unmount(root, rustix::mount::UnmountFlags::DETACH) {
        Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(with_context(e, &format!("detach {root}"))),
    }
}

/// `/proc/self/fd/N` of an open descriptor: a mount target that is exactly
/// the directory that was resolved.
fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// Opens directory `path` inside `root` (as if `root` were `/`), creating
/// the missing components.
fn dir_in_root(root: &OwnedFd, path: &str) -> io::Result<OwnedFd> {
    let open =
        |p: &Path| rukt_sys::resolve::open_in_root(root, p, OFlags::PATH | OFlags::DIRECTORY);
    let rel = Path::new(path.trim_start_matches('/'));
    match open(rel) {
        Ok(fd) => return Ok(fd),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(with_context(e, &format!("open {path} in the app's root"))),
    }
    let mut dir = rustix::io::dup(root)?;
    let mut so_far = std::path::PathBuf::new();
    for c in rel.components() {
        let Component::Normal(name) = c else {
            so_far.push(c);
            dir = open(&so_far).map_err(|e| with_context(e, &format!("open {path}")))?;
            continue;
        };
        so_far.push(name);
        dir = match open(&so_far) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                let parent = so_far.parent().unwrap_or(Path::new(""));
                let parent = if parent.as_os_str().is_empty() {
                    rustix::io::dup(root)?
                } else {
                    open(parent).map_err(|e| with_context(e, &format!("open {path}")))?
                };
                match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(with_context(e, &format!("create {path}"))),
                }
                open(&so_far).map_err(|e| with_context(e, &format!("open {path}")))?
            }
            Err(e) => return Err(with_context(e, &format!("open {path}"))),
        };
    }
    Ok(dir)
}
