//! Mounting each app's root filesystem (an overlay of the image's layers,
//! never copied) and unmounting everything below a pod before removal.

use std::io;
use std::path::{Path, PathBuf};

use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, UnmountFlags};

/// Mounts an overlay at `target` with `lowers` (top first) and, unless
/// read-only, `upper`/`work`. Uses `fsconfig(lowerdir+)` (no limit on the
/// number of layers), falling back to `mount(2)` on older kernels.
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
    let data = std::ffi::CString::new(opts).map_err(io::Error::other)?;
    rustix::mount::mount("overlay", target, "overlay", flags, data.as_c_str())?;
    Ok(())
}

/// Mount points at or below `dir`, deepest first, from `/proc/self/mountinfo`.
pub fn mounts_below(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .filter(|m| m.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    Ok(out)
}

/// Lazily unmounts everything at or below `dir`, deepest first.
pub fn unmount_below(dir: &Path) -> io::Result<()> {
    // A mount point can be stacked; loop until none is left (bounded).
    for _ in 0..64 {
        let mounts = mounts_below(dir)?;
        if mounts.is_empty() {
            return Ok(());
        }
        for m in mounts {
            match rustix::mount::unmount(&m, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW) {
                Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("cannot unmount {}: {e}", m.display()),
                    ));
                }
            }
        }
    }
    Err(io::Error::other(format!(
        "mounts below {} keep reappearing",
        dir.display()
    )))
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..=i + 3].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo() {
        assert_eq!(unescape("/a\\040b/c"), "/a b/c");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/end\\04"), "/end\\04");
    }
}
