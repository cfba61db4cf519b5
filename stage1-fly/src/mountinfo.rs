//! `/proc/self/mountinfo`: which mounts lie below a directory, and taking
//! them all down (`gc`, and `run` undoing its own mounts after a failure).
//!
//! This is what stands between stage0's `rm -rf` of the pod directory and
//! the host's `/dev`, `/proc`, `/sys` and host volumes bound inside it, so it
//! checks its work: it fails unless nothing is left mounted below.

use std::collections::HashSet;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rustix::io::Errno;
use rustix::mount::{MountPropagationFlags, UnmountFlags};
use tracing::debug;

/// Parses mountinfo text into its mount points (relative to our root), in
/// mount order; malformed lines are skipped.
pub fn parse(data: &[u8]) -> Vec<PathBuf> {
    data.split(|b| *b == b'\n')
        .filter_map(|line| {
            // mount ID, parent ID, major:minor, root, mount point, ...
            let mut fields = line.split(|b| *b == b' ');
            let numeric = |f: &[u8]| !f.is_empty() && f.iter().all(u8::is_ascii_digit);
            if !(numeric(fields.next()?) && numeric(fields.next()?)) {
                return None;
            }
            let mount_point = fields.nth(2)?;
            Some(PathBuf::from(unescape(mount_point)))
        })
        .collect()
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\011`, `\012`,
/// `\134` for a backslash).
fn unescape(field: &[u8]) -> OsString {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let octal = field
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (field[i], octal) {
            (b'\\', Some(d)) => {
                let value = d.iter().fold(0u32, |v, b| v * 8 + u32::from(b - b'0'));
                out.push(value as u8);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    OsString::from_vec(out)
}

/// The mount points strictly below `dir` (not `dir` itself), deepest first;
/// mounts stacked on one point, the last mounted first.
pub fn below(mount_points: &[PathBuf], dir: &Path) -> Vec<PathBuf> {
    let mut points: Vec<PathBuf> = mount_points
        .iter()
        .rev()
        .filter(|p| p.starts_with(dir) && *p != dir)
        .cloned()
        .collect();
    // Stable: ties keep the reverse mountinfo order.
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points
}

/// The mount points strictly below `dir` now.
pub fn mounted_below(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let data = std::fs::read("/proc/self/mountinfo").context("cannot read /proc/self/mountinfo")?;
    Ok(below(&parse(&data), dir))
}

/// Unmounts everything mounted strictly below `dir`, deepest first, lazily
/// (`MNT_DETACH`), and checks that nothing is left.
///
/// Each mount is first made private: if one of them is a copy of a shared
/// host mount (a recursive bind of a host whose `/sys` is shared, say), the
/// unmount would otherwise propagate to the host's own mounts. Each round
/// unmounts every mount point once; mounts stacked under others are reached
/// in the next round, after the ones on top are gone.
pub fn unmount_below(dir: &Path) -> anyhow::Result<()> {
    const ROUNDS: usize = 16;
    let mut last_error = None;
    for _ in 0..ROUNDS {
        let mut points = mounted_below(dir)?;
        if points.is_empty() {
            return Ok(());
        }
        for point in points.iter().rev() {
            let _ = rustix::mount::mount_change(
                point,
                MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
            );
        }
        let mut seen = HashSet::new();
        points.retain(|p| seen.insert(p.clone()));
        for point in &points {
            debug!("unmounting {}", point.display());
            match rustix::mount::unmount(point, UnmountFlags::DETACH | UnmountFlags::NOFOLLOW) {
                // Already gone with its parent, or hidden under another mount
                // until the next round.
                Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => {}
                Err(e) => last_error = Some((point.clone(), e)),
            }
        }
    }
    let left = mounted_below(dir)?;
    if left.is_empty() {
        return Ok(());
    }
    let cause = match last_error {
        Some((point, e)) => format!(": {}: {e}", point.display()),
        None => String::new(),
    };
    bail!(
        "{} mounts are still below {}, e.g. {}{cause}",
        left.len(),
        dir.display(),
        left[0].display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
22 27 0:21 / /proc rw,relatime - proc proc rw
100 27 0:50 / /pods/a\\040b/apps/web/rootfs rw - overlay overlay rw
101 100 0:6 / /pods/a\\040b/apps/web/rootfs/dev rw master:3 - devtmpfs devtmpfs rw
102 101 0:24 / /pods/a\\040b/apps/web/rootfs/dev/pts rw - devpts devpts rw
103 100 0:21 / /pods/a\\040b/apps/web/rootfs/proc rw - proc proc rw
104 100 254:0 /srv/x /pods/a\\040b/apps/web/rootfs/data\\011tab\\134back rw - ext4 /dev/vda rw
105 104 0:60 / /pods/a\\040b/apps/web/rootfs/data\\011tab\\134back rw - tmpfs tmpfs rw
106 27 0:61 / /pods/a\\040b/apps/web/rootfs2/dev rw - tmpfs tmpfs rw
107 27 0:62 / /pods/a\\040b/apps/web/rootfs-x rw - tmpfs tmpfs rw
garbage line
";

    #[test]
    fn parses_and_unescapes_mount_points() {
        let entries = parse(SAMPLE);
        assert_eq!(entries.len(), 10);
        assert_eq!(entries[2], Path::new("/pods/a b/apps/web/rootfs"));
        assert_eq!(
            entries[6],
            Path::new("/pods/a b/apps/web/rootfs/data\ttab\\back")
        );
    }

    #[test]
    fn unescapes_only_octal_triplets() {
        assert_eq!(unescape(br"a\040b"), "a b");
        assert_eq!(unescape(br"a\012"), "a\n");
        assert_eq!(unescape(br"a\9zz\"), "a\\9zz\\");
        assert_eq!(unescape(br"\04"), "\\04");
    }

    #[test]
    fn selects_mounts_strictly_below_deepest_first() {
        let entries = parse(SAMPLE);
        let points = below(&entries, Path::new("/pods/a b/apps/web/rootfs"));
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
            below(&entries, Path::new("/pods/a b/apps/web/rootfs/")),
            points
        );
        assert!(below(&entries, Path::new("/pods/a b/apps/web/rootfs/proc")).is_empty());
    }
}
