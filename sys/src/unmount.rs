//! The safe recursive unmount: taking down every mount below a directory
//! (a pod before stage0 removes it, an app's root in a stage1's `gc`)
//! without ever reaching a mount of the host.
//!
//! A pod may hold copies of host mounts that are still peers of the host's
//! own (a recursive bind of a shared `/sys`, say): a plain `umount -l` of
//! such a copy propagates, and unmounts the host's. So each mount is made
//! private before it is unmounted, and the work is checked: these fail
//! unless nothing is left mounted below. This is what stands between a
//! recursive delete of the pod directory and the host's `/dev`, `/proc`,
//! `/sys` and volumes bound inside it.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::{MountPropagationFlags, UnmountFlags};
use tracing::debug;

use crate::mountinfo::{self, MountInfo};

/// Why mounts could not all be taken down.
#[derive(Debug, thiserror::Error)]
pub enum UnmountError {
    /// The mount table is unreadable.
    #[error("cannot read {}", mountinfo::PATH)]
    MountInfo(#[source] io::Error),
    /// Mounts are left after every round.
    #[error("{count} mounts are still below {}, e.g. {}", dir.display(), example.display())]
    Left {
        /// How many.
        count: usize,
        /// The directory being cleared.
        dir: PathBuf,
        /// One of the mounts left.
        example: PathBuf,
        /// The last unmount that failed, if one did.
        #[source]
        cause: Option<Failed>,
    },
}

/// One failed `umount2(2)`.
#[derive(Debug, thiserror::Error)]
#[error("cannot unmount {}", point.display())]
pub struct Failed {
    /// The mount point.
    pub point: PathBuf,
    /// What the kernel said.
    #[source]
    pub errno: io::Error,
}

impl From<UnmountError> for io::Error {
    fn from(e: UnmountError) -> io::Error {
        match e {
            UnmountError::MountInfo(_) => io::Error::other(e),
            UnmountError::Left { .. } => io::Error::new(io::ErrorKind::ResourceBusy, e),
        }
    }
}

/// Mount points at or below `dir`, deepest first (mounts stacked on one
/// point once each), from `/proc/self/mountinfo`.
pub fn mounts_below(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut points = select(&read()?, dir, true);
    dedup(&mut points);
    Ok(points)
}

/// Mount points strictly below `dir` (not `dir` itself), deepest first.
pub fn mounts_inside(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut points = select(&read()?, dir, false);
    dedup(&mut points);
    Ok(points)
}

/// Unmounts everything mounted at or below `dir`, `dir` included: made
/// private, then detached (`MNT_DETACH`), deepest first; fails unless
/// nothing is left.
pub fn unmount_below(dir: &Path) -> io::Result<()> {
    Ok(unmount(dir, true)?)
}

/// Unmounts everything mounted strictly below `dir`, leaving a mount on
/// `dir` itself (stage0's overlay of an app's root, which stage0 unmounts):
/// as [`unmount_below`] otherwise.
pub fn unmount_inside(dir: &Path) -> io::Result<()> {
    Ok(unmount(dir, false)?)
}

fn read() -> Result<Vec<MountInfo>, UnmountError> {
    mountinfo::read().map_err(UnmountError::MountInfo)
}

/// Each round makes every mount point private (recursively, shallowest
/// first) and then unmounts it once; mounts stacked under others are
/// reached in the next round, after the ones on top are gone.
fn unmount(dir: &Path, include_dir: bool) -> Result<(), UnmountError> {
    const ROUNDS: usize = 16;
    let mut last_error = None;
    for _ in 0..ROUNDS {
        let mut points = select(&read()?, dir, include_dir);
        if points.is_empty() {
            return Ok(());
        }
        for point in points.iter().rev() {
            // Fails only on what is no longer a mount point (gone with its
            // parent): the unmount below says so if it matters.
            let _ = rustix::mount::mount_change(
                point,
                MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
            );
        }
        dedup(&mut points);
        for point in points {
            debug!("unmounting {}", point.display());
            match rustix::mount::unmount(&point, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW) {
                // Already gone with its parent, or hidden under another mount
                // until the next round.
                Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => {}
                Err(e) => {
                    last_error = Some(Failed {
                        point,
                        errno: e.into(),
                    })
                }
            }
        }
    }
    let left = select(&read()?, dir, include_dir);
    match left.first() {
        None => Ok(()),
        Some(example) => Err(UnmountError::Left {
            count: left.len(),
            dir: dir.to_path_buf(),
            example: example.clone(),
            cause: last_error,
        }),
    }
}

/// The mount points below `dir` (and `dir` itself if `include_dir`),
/// deepest first; mounts stacked on one point, the last mounted first.
fn select(mounts: &[MountInfo], dir: &Path, include_dir: bool) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = mounts
        .iter()
        .rev()
        .map(|m| &m.mount_point)
        .filter(|p| p.starts_with(dir) && (include_dir || *p != dir))
        .cloned()
        .collect();
    // Stable: ties keep the reverse mountinfo order.
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points
}

/// Drops repeated mount points, keeping the first of each.
fn dedup(points: &mut Vec<PathBuf>) {
    let mut seen = HashSet::new();
    points.retain(|p| seen.insert(p.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo::tests::SAMPLE;

    #[test]
    fn selects_mounts_strictly_below_deepest_first() {
        let entries = mountinfo::parse(SAMPLE);
        let points = select(&entries, Path::new("/pods/a b/apps/web/rootfs"), false);
        let root = Path::new("/pods/a b/apps/web/rootfs");
        assert_eq!(
            points,
            [
                root.join("dev/pts"),
                root.join("data\ttab\\back"),
                root.join("data\ttab\\back"),
                root.join("proc"),
                root.join("dev"),
            ]
        );
        // A trailing slash names the same directory; siblings sharing a
        // prefix (rootfs2, rootfs-x) are not below it.
        assert_eq!(
            select(&entries, Path::new("/pods/a b/apps/web/rootfs/"), false),
            points
        );
        assert!(select(&entries, Path::new("/pods/a b/apps/web/rootfs/proc"), false).is_empty());
    }

    #[test]
    fn at_or_below_includes_the_directory_last() {
        let entries = mountinfo::parse(SAMPLE);
        let root = Path::new("/pods/a b/apps/web/rootfs");
        let mut points = select(&entries, root, true);
        assert_eq!(points.last().map(PathBuf::as_path), Some(root));
        assert_eq!(points.len(), 6);
        dedup(&mut points);
        assert_eq!(points.len(), 5);
        assert_eq!(
            select(&entries, &root.join("proc"), true),
            [root.join("proc")]
        );
    }

    #[test]
    fn nothing_mounted_below_is_nothing_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(mounts_below(tmp.path()).unwrap().is_empty());
        unmount_below(tmp.path()).unwrap();
        unmount_inside(tmp.path()).unwrap();
    }
}
