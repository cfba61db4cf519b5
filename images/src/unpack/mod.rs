//! Unpacking one layer tar into its own directory, safely, in the format
//! overlayfs understands.
//!
//! - Entry paths are normalised; `..` and absolute paths are refused.
//! - Parent directories are opened with `openat2(RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS)` from the layer root, so no symlink (from this
//!   layer or any other) is ever followed; an entry beneath a symlink is
//!   refused. Hardlink targets are resolved the same way and must be in
//!   this layer.
//! - `.wh.NAME` becomes a 0:0 character device (an overlay whiteout) and
//!   `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its directory;
//!   a bare `.wh.` is refused.
//! - Device nodes from images are not created (they would reach host
//!   devices under engines without a device cgroup); FIFOs are.
//! - Ownership, modes (setuid/setgid/sticky exactly as the image has them),
//!   times and safe xattrs (`user.*`, `security.capability`) are kept;
//!   `trusted.*` and other xattrs from images are dropped.

pub mod fsops;
mod meta;
pub mod path;

use fsops::mkdir;
pub use fsops::{clear_dir, open_beneath, remove_existing};
use meta::{Meta, gid, read_meta, times, uid};

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;
use tracing::{debug, warn};

use path::components;

/// Overlay's opaque-directory xattr.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";
const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";

/// What unpacking a layer found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UnpackStats {
    /// Bytes of regular file content written.
    pub size: u64,
    /// Tar entries processed.
    pub entries: u64,
}

/// Why a layer could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The tar stream could not be read (malformed, or the source failed).
    #[error("cannot read the layer's tar stream")]
    Read(#[source] io::Error),
    /// An entry tries to leave the layer root or is otherwise hostile.
    #[error("refusing hostile layer entry {path:?}: {reason}")]
    Hostile {
        /// The entry path as written in the tar.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Writing into the layer directory failed.
    #[error("cannot unpack layer entry {path:?}")]
    Write {
        /// The entry path.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Unpacks the tar `reader` into `root` (an existing, empty directory).
pub fn unpack<R: Read>(reader: R, root: &Path) -> Result<(UnpackStats, R), UnpackError> {
    let root_fd = rustix::fs::open(
        root,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| UnpackError::Write {
        path: root.display().to_string(),
        source: e.into(),
    })?;
    let mut archive = tar::Archive::new(reader);
    let mut u = Unpacker {
        root: root_fd,
        stats: UnpackStats::default(),
        dirs: Vec::new(),
        parent_cache: None,
        buf: vec![0u8; COPY_BUF],
    };
    for entry in archive.entries().map_err(UnpackError::Read)? {
        let mut entry = entry.map_err(UnpackError::Read)?;
        u.entry(&mut entry)?;
    }
    u.finish_dirs()?;
    Ok((u.stats, archive.into_inner()))
}

struct Unpacker {
    root: OwnedFd,
    stats: UnpackStats,
    /// Directories whose times are set once everything inside is written.
    dirs: Vec<(Vec<u8>, Timestamps)>,
    parent_cache: Option<(Vec<u8>, OwnedFd)>,
    /// One large copy buffer: far fewer write(2) calls than io::copy's 8 KiB.
    buf: Vec<u8>,
}

const COPY_BUF: usize = 1 << 20;

/// Copies `r` into `w` through `buf`, returning the byte count.
fn copy_with(r: &mut impl Read, w: &mut File, buf: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let mut filled = 0;
        // Fill the buffer as far as the entry goes before writing.
        while filled < buf.len() {
            match r.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) => return Err(e),
            }
        }
        if filled == 0 {
            return Ok(total);
        }
        io::Write::write_all(w, &buf[..filled])?;
        total += filled as u64;
    }
}

impl Unpacker {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), UnpackError> {
        self.stats.entries += 1;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let hostile = |reason| UnpackError::Hostile {
            path: shown.clone(),
            reason,
        };
        let comps = components(&raw).map_err(|p| hostile(p.reason()))?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader
        ) {
            return Ok(());
        }
        let meta = read_meta(entry).map_err(UnpackError::Read)?;
        let werr = |source: io::Error| UnpackError::Write {
            path: shown.clone(),
            source,
        };

        let Some((name, parents)) = comps.split_last() else {
            // The layer root itself ("./"): only its metadata applies.
            return self.apply_dir_meta(b"", &meta).map_err(werr);
        };
        let parent_path = parents.join(&b'/');
        let parent = self
            .open_parent(&parent_path)
            .map_err(|e| match e.raw_os_error() {
                Some(code)
                    if code == Errno::LOOP.raw_os_error()
                        || code == Errno::NOTDIR.raw_os_error() =>
                {
                    hostile("a parent directory is a symlink or not a directory")
                }
                _ => werr(e),
            })?;
        let name: &[u8] = name;

        if name == OPAQUE_MARKER {
            return rustix::fs::fsetxattr(&parent, OPAQUE_XATTR, b"y", XattrFlags::empty())
                .map_err(|e| werr(e.into()));
        }
        if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX) {
            if hidden.starts_with(WHITEOUT_PREFIX) {
                debug!(path = %shown, "ignoring special whiteout entry");
                return Ok(());
            }
            if hidden.is_empty() || hidden == b"." || hidden == b".." {
                return Err(hostile("malformed whiteout"));
            }
            remove_existing(&parent, hidden).map_err(werr)?;
            return rustix::fs::mknodat(
                &parent,
                hidden,
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(|e| werr(e.into()));
        }

        match kind {
            tar::EntryType::Directory => {
                match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                    Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {}
                    Ok(_) => {
                        remove_existing(&parent, name).map_err(werr)?;
                        mkdir(&parent, name).map_err(werr)?;
                    }
                    Err(_) => mkdir(&parent, name).map_err(werr)?,
                }
                let rel = join(&parent_path, name);
                self.apply_dir_meta(&rel, &meta).map_err(werr)
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_existing(&parent, name).map_err(werr)?;
                let fd = rustix::fs::openat(
                    &parent,
                    name,
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| werr(e.into()))?;
                let mut file = File::from(fd);
                let n = copy_with(entry, &mut file, &mut self.buf).map_err(|e| match e.kind() {
                    // Failures of the stream (not of the disk) surface as read errors.
                    io::ErrorKind::InvalidData
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::Other => UnpackError::Read(e),
                    _ => werr(e),
                })?;
                self.stats.size += n;
                rustix::fs::fchown(&file, uid(meta.uid), gid(meta.gid))
                    .map_err(|e| werr(e.into()))?;
                rustix::fs::fchmod(&file, Mode::from_raw_mode(meta.mode))
                    .map_err(|e| werr(e.into()))?;
                for (k, v) in &meta.xattrs {
                    rustix::fs::fsetxattr(&file, k.as_str(), v, XattrFlags::empty())
                        .map_err(|e| werr(e.into()))?;
                }
                rustix::fs::futimens(&file, &times(meta.mtime)).map_err(|e| werr(e.into()))
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| hostile("symlink without a target"))?;
                remove_existing(&parent, name).map_err(werr)?;
                rustix::fs::symlinkat(OsStr::from_bytes(&target), &parent, name)
                    .map_err(|e| werr(e.into()))?;
                self.apply_link_meta(&parent, name, &meta).map_err(werr)
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| hostile("hardlink without a target"))?;
                let tcomps = components(&target).map_err(|p| hostile(p.reason()))?;
                let Some((tname, tparents)) = tcomps.split_last() else {
                    return Err(hostile("hardlink to the layer root"));
                };
                let tparent = self
                    .open_dir(&tparents.join(&b'/'))
                    .map_err(|_| hostile("hardlink target is not in this layer"))?;
                let st = rustix::fs::statat(&tparent, *tname, AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|_| hostile("hardlink target is not in this layer"))?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                    return Err(hostile("hardlink to a directory"));
                }
                if tparents == parents && *tname == name {
                    return Ok(());
                }
                remove_existing(&parent, name).map_err(werr)?;
                rustix::fs::linkat(&tparent, *tname, &parent, name, AtFlags::empty())
                    .map_err(|e| werr(e.into()))
            }
            tar::EntryType::Fifo => {
                remove_existing(&parent, name).map_err(werr)?;
                rustix::fs::mknodat(&parent, name, FileType::Fifo, Mode::from_raw_mode(0o600), 0)
                    .map_err(|e| werr(e.into()))?;
                self.apply_node_meta(&parent, name, &meta).map_err(werr)
            }
            tar::EntryType::Char | tar::EntryType::Block => {
                warn!(path = %shown, "not creating a device node from an image");
                Ok(())
            }
            other => {
                warn!(path = %shown, kind = ?other, "skipping unsupported tar entry type");
                Ok(())
            }
        }
    }

    /// Opens the directory `rel` under the root, creating missing
    /// components; refuses to pass through symlinks.
    fn open_parent(&mut self, rel: &[u8]) -> io::Result<OwnedFd> {
        if let Some((p, fd)) = &self.parent_cache
            && p == rel
        {
            return fd.try_clone();
        }
        let fd = match self.open_dir(rel) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut cur = self.root.try_clone()?;
                for c in rel.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
                    match mkdir(&cur, c) {
                        Ok(()) => {}
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                        Err(e) => return Err(e),
                    }
                    cur = open_beneath(&cur, c)?;
                }
                cur
            }
            Err(e) => return Err(e),
        };
        self.parent_cache = Some((rel.to_vec(), fd.try_clone()?));
        Ok(fd)
    }

    fn open_dir(&self, rel: &[u8]) -> io::Result<OwnedFd> {
        if rel.is_empty() {
            return self.root.try_clone();
        }
        open_beneath(&self.root, rel)
    }

    fn apply_dir_meta(&mut self, rel: &[u8], meta: &Meta) -> io::Result<()> {
        let dir = self.open_dir(rel)?;
        rustix::fs::fchown(&dir, uid(meta.uid), gid(meta.gid))?;
        rustix::fs::fchmod(&dir, Mode::from_raw_mode(meta.mode))?;
        for (k, v) in &meta.xattrs {
            rustix::fs::fsetxattr(&dir, k.as_str(), v, XattrFlags::empty())?;
        }
        self.dirs.push((rel.to_vec(), times(meta.mtime)));
        Ok(())
    }

    fn apply_link_meta(&self, parent: &OwnedFd, name: &[u8], meta: &Meta) -> io::Result<()> {
        rustix::fs::chownat(
            parent,
            name,
            uid(meta.uid),
            gid(meta.gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        rustix::fs::utimensat(parent, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }

    fn apply_node_meta(&self, parent: &OwnedFd, name: &[u8], meta: &Meta) -> io::Result<()> {
        rustix::fs::chownat(
            parent,
            name,
            uid(meta.uid),
            gid(meta.gid),
            AtFlags::SYMLINK_NOFOLLOW,
        )?;
        rustix::fs::chmodat(
            parent,
            name,
            Mode::from_raw_mode(meta.mode),
            AtFlags::empty(),
        )?;
        rustix::fs::utimensat(parent, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }

    /// Sets directory times last, deepest first, so writing children does
    /// not disturb them.
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by_key(|d| std::cmp::Reverse(d.0.len()));
        for (rel, ts) in dirs {
            // A later entry may have replaced the directory; skip it then.
            if let Ok(fd) = self.open_dir(&rel) {
                rustix::fs::futimens(&fd, &ts).map_err(|e| UnpackError::Write {
                    path: String::from_utf8_lossy(&rel).into_owned(),
                    source: e.into(),
                })?;
            }
        }
        Ok(())
    }
}

fn join(parent: &[u8], name: &[u8]) -> Vec<u8> {
    if parent.is_empty() {
        name.to_vec()
    } else {
        [parent, b"/", name].concat()
    }
}
