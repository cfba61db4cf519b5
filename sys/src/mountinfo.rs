//! Parsing `/proc/self/mountinfo` (proc(5)): one [`MountInfo`] per mount,
//! its paths with the kernel's octal escapes undone.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// Where the mount table of this process is.
pub const PATH: &str = "/proc/self/mountinfo";

/// One line of mountinfo:
/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// This mount's ID.
    pub mount_id: u32,
    /// The ID of the mount it is mounted on.
    pub parent_id: u32,
    /// The directory of its filesystem that is mounted (`/` for all of it,
    /// the source directory of a bind mount otherwise).
    pub root: PathBuf,
    /// Where it is mounted, relative to this process's root.
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,nosuid,relatime`).
    pub options: String,
    /// The optional fields: propagation (`shared:N`, `master:N`,
    /// `propagate_from:N`, `unbindable`); none for a private mount.
    pub optional: Vec<String>,
    /// The filesystem type (`ext4`, `overlay`, `fuse.sshfs`).
    pub fs_type: String,
    /// The mount source (`/dev/vda1`, `overlay`, `none`).
    pub source: OsString,
}

impl MountInfo {
    /// The peer group it shares mount events with (`shared:N`).
    pub fn shared(&self) -> Option<u32> {
        self.tag("shared:")
    }

    /// The peer group it receives mount events from (`master:N`).
    pub fn master(&self) -> Option<u32> {
        self.tag("master:")
    }

    fn tag(&self, prefix: &str) -> Option<u32> {
        self.optional
            .iter()
            .find_map(|f| f.strip_prefix(prefix)?.parse().ok())
    }
}

/// The mounts of this process now, in mount order.
pub fn read() -> io::Result<Vec<MountInfo>> {
    Ok(parse(&std::fs::read(PATH)?))
}

/// Whether something is mounted exactly at `path` (canonicalised first).
pub fn is_mount_point(path: &std::path::Path) -> io::Result<bool> {
    let path = path.canonicalize()?;
    Ok(read()?.iter().any(|m| m.mount_point == path))
}

/// Parses mountinfo text, in order; malformed lines are skipped.
pub fn parse(data: &[u8]) -> Vec<MountInfo> {
    data.split(|b| *b == b'\n').filter_map(parse_line).collect()
}

fn parse_line(line: &[u8]) -> Option<MountInfo> {
    let mut fields = line.split(|b| *b == b' ');
    let number = |f: &[u8]| -> Option<u32> {
        if f.is_empty() || !f.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(f).ok()?.parse().ok()
    };
    let text = |f: &[u8]| String::from_utf8_lossy(f).into_owned();
    let mount_id = number(fields.next()?)?;
    let parent_id = number(fields.next()?)?;
    let _major_minor = fields.next()?;
    let root = PathBuf::from(unescape(fields.next()?));
    let mount_point = PathBuf::from(unescape(fields.next()?));
    let options = text(fields.next()?);
    let mut optional = Vec::new();
    loop {
        match fields.next() {
            Some(b"-") => break,
            Some(f) => optional.push(text(f)),
            // Truncated before the separator.
            None => return None,
        }
    }
    let fs_type = text(&unescape(fields.next()?).into_vec());
    let source = unescape(fields.next().unwrap_or_default());
    Some(MountInfo {
        mount_id,
        parent_id,
        root,
        mount_point,
        options,
        optional,
        fs_type,
        source,
    })
}

/// Undoes the kernel's octal escapes (`\040` for a space, `\011`, `\012`,
/// `\134` for a backslash); anything else stays as it is.
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::Path;

    pub(crate) const SAMPLE: &[u8] = b"\
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
22 27 0:21 / /proc rw,relatime - proc proc rw
100 27 0:50 / /pods/a\\040b/apps/web/rootfs rw - overlay overlay rw
101 100 0:6 / /pods/a\\040b/apps/web/rootfs/dev rw master:3 - devtmpfs devtmpfs rw
102 101 0:24 / /pods/a\\040b/apps/web/rootfs/dev/pts rw - devpts devpts rw
103 100 0:21 / /pods/a\\040b/apps/web/rootfs/proc rw - proc proc rw
104 100 254:0 /srv/x /pods/a\\040b/apps/web/rootfs/data\\011tab\\134back rw - ext4 /dev/vda rw
105 104 0:60 / /pods/a\\040b/apps/web/rootfs/data\\011tab\\134back rw - tmpfs tmpfs rw
106 27 0:61 / /pods/a\\040b/apps/web/rootfs2/dev rw - tmpfs tmpfs rw
107 27 0:62 / /pods/a\\040b/apps/web/rootfs-x rw shared:7 master:2 - tmpfs my\\040src rw
garbage line
28 27 0:5 / /truncated rw shared:2
";

    #[test]
    fn parses_and_unescapes_mount_points() {
        let entries = parse(SAMPLE);
        assert_eq!(entries.len(), 10);
        assert_eq!(
            entries[2].mount_point,
            Path::new("/pods/a b/apps/web/rootfs")
        );
        assert_eq!(
            entries[6].mount_point,
            Path::new("/pods/a b/apps/web/rootfs/data\ttab\\back")
        );
    }

    #[test]
    fn parses_every_field() {
        let entries = parse(SAMPLE);
        assert_eq!(
            entries[9],
            MountInfo {
                mount_id: 107,
                parent_id: 27,
                root: "/".into(),
                mount_point: "/pods/a b/apps/web/rootfs-x".into(),
                options: "rw".into(),
                optional: vec!["shared:7".into(), "master:2".into()],
                fs_type: "tmpfs".into(),
                source: "my src".into(),
            }
        );
        assert_eq!(
            (entries[9].shared(), entries[9].master()),
            (Some(7), Some(2))
        );
        assert_eq!((entries[3].shared(), entries[3].master()), (None, Some(3)));
        assert_eq!(entries[6].root, Path::new("/srv/x"));
        assert!(entries[1].optional.is_empty());
    }

    #[test]
    fn unescapes_only_octal_triplets() {
        assert_eq!(unescape(br"a\040b"), "a b");
        assert_eq!(unescape(br"a\012"), "a\n");
        assert_eq!(unescape(br"a\9zz\"), "a\\9zz\\");
        assert_eq!(unescape(br"\04"), "\\04");
        assert_eq!(unescape(br"/a\040b/c"), "/a b/c");
        assert_eq!(unescape(br"/plain"), "/plain");
        assert_eq!(unescape(br"/end\04"), "/end\\04");
        // At the very end too (stage0's copy missed this one).
        assert_eq!(unescape(br"/end\040"), "/end ");
    }

    #[test]
    fn reads_our_own_table() {
        let mounts = read().unwrap();
        assert!(mounts.iter().any(|m| m.mount_point == Path::new("/")));
    }
}
