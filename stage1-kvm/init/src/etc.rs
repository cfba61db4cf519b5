//! The pod's `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf` in the
//! guest: the host renders them (as for nspawn, `rukt_net::podfiles`) and
//! sends them with the pod; the init writes each once under [`DIR`] and
//! binds it onto `/etc/<name>` in every app's root (created if the image
//! has none; an image's symlink is followed inside the root).

use std::io;
use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::mount_bind;

use crate::boot::with_context;

/// Where the init keeps the files (the initramfs, in guest memory).
pub const DIR: &str = "/rukt-etc";

/// Writes `files` (`(name, contents)`) under [`DIR`].
pub fn write(files: &[(String, String)]) -> io::Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(DIR)?;
    for (name, text) in files {
        if name.contains('/') {
            return Err(io::Error::other(format!("bad /etc file name {name:?}")));
        }
        std::fs::write(format!("{DIR}/{name}"), text)?;
    }
    Ok(())
}

/// Binds each of `files` onto `/etc/<name>` of the root open at `root`,
/// whose `/etc` is open at `etc`.
pub fn bind(root: &OwnedFd, etc: &OwnedFd, files: &[(String, String)]) -> io::Result<()> {
    for (name, _) in files {
        let in_root = format!("etc/{name}");
        let target = match rukt_sys::resolve::open_in_root(root, in_root.as_str(), OFlags::PATH) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => {
                let flags = OFlags::CREATE | OFlags::EXCL | OFlags::WRONLY | OFlags::NOFOLLOW;
                match rustix::fs::openat(
                    etc,
                    name.as_str(),
                    flags | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o644),
                ) {
                    Ok(_) => {}
                    // A dangling symlink: the image's own file stays.
                    Err(Errno::EXIST) => {
                        crate::log(&format!("/etc/{name} is a dangling symlink: left alone"));
                        continue;
                    }
                    Err(e) => return Err(with_context(e, &format!("create /etc/{name}"))),
                }
                rukt_sys::resolve::open_in_root(root, in_root.as_str(), OFlags::PATH)
                    .map_err(|e| with_context(e, &format!("open /etc/{name}")))?
            }
            Err(e) => return Err(with_context(e, &format!("open /etc/{name}"))),
        };
        let at = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&target));
        mount_bind(format!("{DIR}/{name}").as_str(), at.as_str())
            .map_err(|e| with_context(e, &format!("bind /etc/{name}")))?;
    }
    Ok(())
}
