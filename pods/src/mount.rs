//! Mounting each app's root filesystem (an overlay of the image's layers,
//! never copied). Unmounting everything below a pod before removal is the
//! system floor's safe recursive unmount (`rukt_sys::unmount`), re-exported
//! here.

use std::io;
use std::path::{Path, PathBuf};

use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags};

/// Mounts an overlay at `target` with `lowers` (top first) and, unless
/// read-only, `upper`/`work`. Uses `fsconfig(lowerdir+)` (no limit on the
/// number of layers), falling back to `mount(2)` on older kernels.
///
/// A writable overlay is `volatile` where the kernel has it (5.10+): it
/// never syncs its upper filesystem. Without it every unmount (a pod's gc)
/// ran `syncfs` on the whole filesystem holding the store, tens of
/// milliseconds on a busy host, for an upper directory removed right after.
/// An app's root does not outlive its pod: after a crash the pod is garbage
/// and gc removes it, and nothing mounts an upper directory twice (an app
/// added again gets fresh ones), which is what `volatile` forbids. Podman
/// makes `--rm` containers volatile and CRI-O every container for the same
/// reason. Data meant to last belongs in volumes, which are binds and sync
/// as usual.
pub fn mount_overlay(
    target: &Path,
    lowers: &[PathBuf],
    upper_work: Option<(&Path, &Path)>,
) -> io::Result<()> {
    match mount_overlay_fsconfig(target, lowers, upper_work) {
        Ok(()) => Ok(()),
        Err(e)
            if e.raw_os_error() == Some(libc_enosys())
                || e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
        {
            mount_overlay_legacy(target, lowers, upper_work)
        }
        Err(e) => Err(e),
    }
}

fn libc_enosys() -> i32 {
    rustix::io::Errno::NOSYS.raw_os_error()
}

fn mount_overlay_fsconfig(
    target: &Path,
    lowers: &[PathBuf],
    upper_work: Option<(&Path, &Path)>,
) -> io::Result<()> {
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    for l in lowers {
        rustix::mount::fsconfig_set_string(&fs, "lowerdir+", l)?;
    }
    if let Some((upper, work)) = upper_work {
        rustix::mount::fsconfig_set_string(&fs, "upperdir", upper)?;
        rustix::mount::fsconfig_set_string(&fs, "workdir", work)?;
        // Older kernels refuse the option: the mount is then as before.
        let _ = rustix::mount::fsconfig_set_flag(&fs, "volatile");
    }
    rustix::mount::fsconfig_create(&fs)?;
    let attrs = if upper_work.is_none() {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    } else {
        MountAttrFlags::empty()
    };
    let mnt = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?;
    rustix::mount::move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

fn mount_overlay_legacy(
    target: &Path,
    lowers: &[PathBuf],
    upper_work: Option<(&Path, &Path)>,
) -> io::Result<()> {
    let lower = lowers
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let mut opts = format!("lowerdir={lower}");
    if let Some((u, w)) = upper_work {
        opts.push_str(&format!(
            ",upperdir={},workdir={}",
            u.display(),
            w.display()
        ));
    }
    let flags = if upper_work.is_none() {
        rustix::mount::MountFlags::RDONLY
    } else {
        rustix::mount::MountFlags::empty()
    };
    let mount = |opts: String| -> io::Result<()> {
        let data = std::ffi::CString::new(opts).map_err(io::Error::other)?;
        rustix::mount::mount("overlay", target, "overlay", flags, data.as_c_str())?;
        Ok(())
    };
    if upper_work.is_some() {
        match mount(format!("{opts},volatile")) {
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {}
            done => return done,
        }
    }
    mount(opts)
}

pub use rukt_sys::unmount::{mounts_below, unmount_below};
