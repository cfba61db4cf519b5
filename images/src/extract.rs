//! `image extract`: the flattened root filesystem of an image, as a pod
//! sees it through overlayfs: layers applied bottom to top, whiteouts
//! removing what lies below, opaque directories hiding lower contents, and
//! a directory in an upper layer replacing a non-directory below.
//!
//! Every operation is relative to directory fds opened without following
//! symlinks, so symlinks from the image never redirect a write.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec, Timestamps, XattrFlags};

use crate::store::{ImageRecord, Store};
use crate::unpack::{OPAQUE_XATTR, clear_dir, open_beneath, remove_existing};

/// Why extraction failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The destination has something in it already.
    #[error("{0} exists and is not empty")]
    NotEmpty(PathBuf),
    /// A layer of the image is not unpacked in the store.
    #[error("layer {0} is missing from the store; fetch the image again")]
    MissingLayer(String),
    /// Reading a layer or writing the destination failed.
    #[error("cannot extract {path}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Writes the flattened root filesystem of `rec` into `dest`.
pub fn extract(store: &Store, rec: &ImageRecord, dest: &Path) -> Result<(), ExtractError> {
    let ioe = |path: &Path| {
        let path = path.to_path_buf();
        move |source: io::Error| ExtractError::Io { path, source }
    };
    match std::fs::read_dir(dest) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(ExtractError::NotEmpty(dest.to_path_buf()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dest).map_err(ioe(dest))?
        }
        Err(e) => return Err(ioe(dest)(e)),
    }
    let dst = rustix::fs::open(
        dest,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ioe(dest)(e.into()))?;
    let mut m = Merger {
        dst_root: dst.try_clone().map_err(ioe(dest))?,
        dir_times: BTreeMap::new(),
    };
    for layer in &rec.layers {
        if !store.has_layer(&layer.diff_id) {
            return Err(ExtractError::MissingLayer(layer.diff_id.to_string()));
        }
        let src = store.layer_rootfs(&layer.diff_id);
        let mut links = HashMap::new();
        m.apply_meta(&src, &dst, PathBuf::new())
            .map_err(ioe(&src))?;
        m.merge(&src, &dst, PathBuf::new(), &mut links)
            .map_err(ioe(&src))?;
    }
    // Directory times last, deepest first.
    for (rel, ts) in m.dir_times.iter().rev() {
        let fd = if rel.as_os_str().is_empty() {
            dst.try_clone()
        } else {
            open_beneath(&dst, rel.as_os_str().as_encoded_bytes())
        };
        if let Ok(fd) = fd {
            rustix::fs::futimens(&fd, ts).map_err(|e| ioe(&dest.join(rel))(e.into()))?;
        }
    }
    Ok(())
}

struct Merger {
    dst_root: OwnedFd,
    dir_times: BTreeMap<PathBuf, Timestamps>,
}

fn ts_of(meta: &std::fs::Metadata) -> Timestamps {
    let t = Timespec {
        tv_sec: meta.mtime(),
        tv_nsec: meta.mtime_nsec(),
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn ids(meta: &std::fs::Metadata) -> (Option<rustix::fs::Uid>, Option<rustix::fs::Gid>) {
    (
        Some(rustix::fs::Uid::from_raw(meta.uid())),
        Some(rustix::fs::Gid::from_raw(meta.gid())),
    )
}

/// Copies the xattrs images may carry (`user.*`, `security.capability`).
fn copy_xattrs(src: &Path, dst: &OwnedFd) -> io::Result<()> {
    let mut names = vec![0u8; 4096];
    let n = match rustix::fs::llistxattr(src, &mut names[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if !(name.starts_with(b"user.") || name == b"security.capability") {
            continue;
        }
        let mut value = vec![0u8; 65536];
        let len = rustix::fs::lgetxattr(src, name, &mut value[..])?;
        rustix::fs::fsetxattr(dst, name, &value[..len], XattrFlags::empty())?;
    }
    Ok(())
}

impl Merger {
    fn apply_meta(&mut self, src: &Path, dst: &OwnedFd, rel: PathBuf) -> io::Result<()> {
        let meta = std::fs::symlink_metadata(src)?;
        let (u, g) = ids(&meta);
        rustix::fs::fchown(dst, u, g)?;
        rustix::fs::fchmod(dst, Mode::from_raw_mode(meta.mode() & 0o7777))?;
        copy_xattrs(src, dst)?;
        self.dir_times.insert(rel, ts_of(&meta));
        Ok(())
    }

    fn merge(
        &mut self,
        src: &Path,
        dst: &OwnedFd,
        rel: PathBuf,
        links: &mut HashMap<(u64, u64), PathBuf>,
    ) -> io::Result<()> {
        let mut names: Vec<_> = std::fs::read_dir(src)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()?;
        names.sort();
        for name in names {
            let sp = src.join(&name);
            let child_rel = rel.join(&name);
            let meta = std::fs::symlink_metadata(&sp)?;
            let ft = meta.file_type();
            let nb = name.as_encoded_bytes();
            if ft.is_char_device() && meta.rdev() == 0 {
                remove_existing(dst, nb)?;
                self.dir_times.retain(|k, _| !k.starts_with(&child_rel));
                continue;
            }
            if ft.is_dir() {
                let existing = rustix::fs::statat(dst, nb, AtFlags::SYMLINK_NOFOLLOW).ok();
                match existing {
                    Some(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => {
                        if is_opaque(&sp) {
                            clear_dir(&open_beneath(dst, nb)?)?;
                            self.dir_times
                                .retain(|k, _| !k.starts_with(&child_rel) || *k == child_rel);
                        }
                    }
                    Some(_) => {
                        remove_existing(dst, nb)?;
                        rustix::fs::mkdirat(dst, nb, Mode::from_raw_mode(0o700))?;
                    }
                    None => rustix::fs::mkdirat(dst, nb, Mode::from_raw_mode(0o700))?,
                }
                let sub = open_beneath(dst, nb)?;
                self.apply_meta(&sp, &sub, child_rel.clone())?;
                self.merge(&sp, &sub, child_rel, links)?;
                continue;
            }
            remove_existing(dst, nb)?;
            self.dir_times.retain(|k, _| !k.starts_with(&child_rel));
            if ft.is_file() {
                if meta.nlink() > 1 {
                    let key = (meta.dev(), meta.ino());
                    if let Some(first) = links.get(&key) {
                        rustix::fs::linkat(
                            &self.dst_root,
                            first.as_os_str().as_encoded_bytes(),
                            dst,
                            nb,
                            AtFlags::empty(),
                        )?;
                        continue;
                    }
                    links.insert(key, child_rel.clone());
                }
                let fd = rustix::fs::openat(
                    dst,
                    nb,
                    OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::WRONLY
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )?;
                let mut out = File::from(fd);
                io::copy(&mut File::open(&sp)?, &mut out)?;
                let (u, g) = ids(&meta);
                rustix::fs::fchown(&out, u, g)?;
                rustix::fs::fchmod(&out, Mode::from_raw_mode(meta.mode() & 0o7777))?;
                copy_xattrs(&sp, &OwnedFd::from(out.try_clone()?))?;
                rustix::fs::futimens(&out, &ts_of(&meta))?;
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&sp)?;
                rustix::fs::symlinkat(target.as_os_str(), dst, nb)?;
                let (u, g) = ids(&meta);
                rustix::fs::chownat(dst, nb, u, g, AtFlags::SYMLINK_NOFOLLOW)?;
                rustix::fs::utimensat(dst, nb, &ts_of(&meta), AtFlags::SYMLINK_NOFOLLOW)?;
            } else if ft.is_fifo() {
                rustix::fs::mknodat(
                    dst,
                    nb,
                    FileType::Fifo,
                    Mode::from_raw_mode(meta.mode() & 0o7777),
                    0,
                )?;
                let (u, g) = ids(&meta);
                rustix::fs::chownat(dst, nb, u, g, AtFlags::SYMLINK_NOFOLLOW)?;
                rustix::fs::utimensat(dst, nb, &ts_of(&meta), AtFlags::SYMLINK_NOFOLLOW)?;
            }
        }
        Ok(())
    }
}

fn is_opaque(dir: &Path) -> bool {
    let mut v = [0u8; 4];
    matches!(rustix::fs::lgetxattr(dir, OPAQUE_XATTR, &mut v[..]), Ok(1) if v[0] == b'y')
}
