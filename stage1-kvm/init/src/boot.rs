//! Early boot of the guest: the kernel filesystems (the cloud kernel does
//! not mount devtmpfs by itself), the kernel modules from the initramfs in
//! dependency order, the pod's virtiofs share, the hostname.

use std::ffi::CString;
use std::io;

use rukt_kvm_init::{MODULES_DIR, proto::FS_TAG};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{MountFlags, mount};

/// Where the pod's share is mounted in the guest.
pub const SHARE: &str = "/rukt";

/// Mounts `/dev`, `/proc`, `/sys` and a `/tmp`.
pub fn kernel_filesystems() -> io::Result<()> {
    let nosuid = MountFlags::NOSUID | MountFlags::NOEXEC;
    for (fstype, target, flags) in [
        ("devtmpfs", "/dev", MountFlags::NOSUID),
        ("proc", "/proc", nosuid | MountFlags::NODEV),
        ("sysfs", "/sys", nosuid | MountFlags::NODEV),
        ("tmpfs", "/tmp", MountFlags::NOSUID | MountFlags::NODEV),
    ] {
        mkdir(target)?;
        mount(fstype, target, fstype, flags, None)
            .map_err(|e| with_context(e, &format!("mount {fstype} on {target}")))?;
    }
    Ok(())
}

/// Loads `modules` (file stems, in order; [`rukt_kvm_init::MODULES`] at
/// boot) from
/// [`MODULES_DIR`]; one that is built in (`EEXIST`) or missing from the
/// initramfs (built into this kernel) is skipped.
pub fn load_modules(modules: &[&str]) -> io::Result<()> {
    let none = CString::default();
    for name in modules {
        let path = format!("{MODULES_DIR}/{name}.ko");
        let fd = match rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(with_context(e, &format!("open {path}"))),
        };
        match rustix::system::finit_module(&fd, &none, 0) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(with_context(e, &format!("load module {name}"))),
        }
    }
    Ok(())
}

/// Mounts the pod's virtiofs share at [`SHARE`].
pub fn mount_share() -> io::Result<()> {
    mkdir(SHARE)?;
    mount(FS_TAG, SHARE, "virtiofs", MountFlags::empty(), None)
        .map_err(|e| with_context(e, "mount the pod's virtiofs share"))
}

/// Sets the guest's hostname.
pub fn hostname(name: &str) -> io::Result<()> {
    rustix::system::sethostname(name.as_bytes()).map_err(|e| with_context(e, "set the hostname"))
}

fn mkdir(path: &str) -> io::Result<()> {
    match rustix::fs::mkdir(path, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => Ok(()),
        Err(e) => Err(with_context(e, &format!("create {path}"))),
    }
}

/// An error naming what failed.
pub fn with_context(e: Errno, what: &str) -> io::Error {
    let e = io::Error::from(e);
    io::Error::new(e.kind(), format!("cannot {what}: {e}"))
}
