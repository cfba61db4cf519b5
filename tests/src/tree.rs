//! Filesystem tree snapshots and human-readable diffs: what an extracted rootfs or a store
//! directory holds, entry by entry (type, mode with setuid/setgid/sticky bits, owner, content
//! hash, link target, device numbers, mtime, hard-link groups, optionally xattrs).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::digest::Hasher;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Fifo,
    CharDevice,
    BlockDevice,
    Socket,
}

/// One filesystem entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// Permission bits including setuid, setgid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Size of regular files; 0 for everything else.
    pub size: u64,
    /// `sha256:` of regular files' content.
    pub sha256: Option<String>,
    /// Symlink target.
    pub target: Option<PathBuf>,
    /// (major, minor) of device nodes.
    pub rdev: Option<(u64, u64)>,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// For a file with several names in the tree: the first of them (in path order). All names
    /// of one inode carry the same value; `None` when the inode has one name in the tree.
    pub hardlink: Option<PathBuf>,
    /// Extended attributes (only when snapshotted with `xattrs: true`).
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// Paths relative to the snapshot root (the root itself is not included).
pub type Tree = BTreeMap<PathBuf, Entry>;

/// Attributes `diff_ignoring` can leave out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attr {
    Mode,
    Owner,
    Content,
    Target,
    Rdev,
    /// mtime of everything.
    Mtime,
    /// mtime of directories only (creating entries in a directory changes it).
    DirMtime,
    /// mtime of symlinks only (not every unpacker sets them).
    SymlinkMtime,
    Hardlink,
    Xattrs,
}

/// Snapshot without xattrs.
pub fn snapshot(dir: &Path) -> Tree {
    snapshot_with(dir, false)
}

/// Snapshot of everything under `dir` (not following symlinks).
pub fn snapshot_with(dir: &Path, xattrs: bool) -> Tree {
    let mut tree = Tree::new();
    let mut inodes: HashMap<(u64, u64), Vec<PathBuf>> = HashMap::new();
    walk(dir, Path::new(""), xattrs, &mut tree, &mut inodes);
    for mut names in inodes.into_values() {
        if names.len() > 1 {
            names.sort();
            let first = names[0].clone();
            for name in names {
                tree.get_mut(&name).expect("walked path").hardlink = Some(first.clone());
            }
        }
    }
    tree
}

fn walk(
    root: &Path,
    rel: &Path,
    xattrs: bool,
    tree: &mut Tree,
    inodes: &mut HashMap<(u64, u64), Vec<PathBuf>>,
) {
    let dir = root.join(rel);
    let read = fs::read_dir(&dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for item in read {
        let item = item.unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
        let path = item.path();
        let rel_path = rel.join(item.file_name());
        let meta =
            fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()));
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_file() {
            Kind::File
        } else if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_fifo() {
            Kind::Fifo
        } else if ft.is_char_device() {
            Kind::CharDevice
        } else if ft.is_block_device() {
            Kind::BlockDevice
        } else {
            Kind::Socket
        };
        let mut entry = Entry {
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid(),
            gid: meta.gid(),
            size: 0,
            sha256: None,
            target: None,
            rdev: None,
            mtime: meta.mtime(),
            hardlink: None,
            xattrs: BTreeMap::new(),
        };
        match kind {
            Kind::File => {
                entry.size = meta.len();
                entry.sha256 = Some(hash_file(&path));
            }
            Kind::Symlink => {
                entry.target = Some(
                    fs::read_link(&path)
                        .unwrap_or_else(|e| panic!("readlink {}: {e}", path.display())),
                );
            }
            Kind::CharDevice | Kind::BlockDevice => entry.rdev = Some(split_dev(meta.rdev())),
            _ => {}
        }
        if xattrs {
            entry.xattrs = read_xattrs(&path);
        }
        if kind != Kind::Dir && meta.nlink() > 1 {
            inodes
                .entry((meta.dev(), meta.ino()))
                .or_default()
                .push(rel_path.clone());
        }
        tree.insert(rel_path.clone(), entry);
        if kind == Kind::Dir {
            walk(root, &rel_path, xattrs, tree, inodes);
        }
    }
}

fn hash_file(path: &Path) -> String {
    let mut file = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher.finish()
}

fn read_xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let Ok(names) = xattr::list(path) else {
        return out;
    };
    for name in names {
        if let Ok(Some(value)) = xattr::get(path, &name) {
            out.insert(name.to_string_lossy().into_owned(), value);
        }
    }
    out
}

/// Linux `dev_t` → (major, minor).
pub fn split_dev(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// Every difference between `a` and `b`, one line each: `- path (kind)` for entries only in
/// `a`, `+ path (kind)` for entries only in `b`, `~ path: attr a-value -> b-value` otherwise.
pub fn diff(a: &Tree, b: &Tree) -> Vec<String> {
    diff_ignoring(a, b, &[])
}

/// `diff` leaving out the attributes in `ignore`.
pub fn diff_ignoring(a: &Tree, b: &Tree, ignore: &[Attr]) -> Vec<String> {
    differences(a, b, ignore)
        .into_iter()
        .map(|(_, line)| line)
        .collect()
}

/// The names of the attributes that differ anywhere between `a` and `b` (`"presence"` for
/// entries only on one side), for reporting.
pub fn differing_attrs(a: &Tree, b: &Tree) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = differences(a, b, &[])
        .into_iter()
        .map(|(attr, _)| attr)
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

fn differences(a: &Tree, b: &Tree, ignore: &[Attr]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (path, ea) in a {
        match b.get(path) {
            None => out.push(("presence", format!("- {} ({:?})", path.display(), ea.kind))),
            Some(eb) => compare(path, ea, eb, ignore, &mut out),
        }
    }
    for (path, eb) in b {
        if !a.contains_key(path) {
            out.push(("presence", format!("+ {} ({:?})", path.display(), eb.kind)));
        }
    }
    out
}

fn compare(
    path: &Path,
    a: &Entry,
    b: &Entry,
    ignore: &[Attr],
    out: &mut Vec<(&'static str, String)>,
) {
    let p = path.display();
    if a.kind != b.kind {
        out.push(("kind", format!("~ {p}: kind {:?} -> {:?}", a.kind, b.kind)));
        return;
    }
    let on = |attr: Attr| !ignore.contains(&attr);
    if on(Attr::Mode) && a.mode != b.mode {
        out.push((
            "mode",
            format!("~ {p}: mode {:04o} -> {:04o}", a.mode, b.mode),
        ));
    }
    if on(Attr::Owner) && (a.uid, a.gid) != (b.uid, b.gid) {
        out.push((
            "owner",
            format!("~ {p}: owner {}:{} -> {}:{}", a.uid, a.gid, b.uid, b.gid),
        ));
    }
    if on(Attr::Content) && a.size != b.size {
        out.push(("content", format!("~ {p}: size {} -> {}", a.size, b.size)));
    } else if on(Attr::Content) && a.sha256 != b.sha256 {
        out.push((
            "content",
            format!("~ {p}: content {:?} -> {:?}", a.sha256, b.sha256),
        ));
    }
    if on(Attr::Target) && a.target != b.target {
        out.push((
            "target",
            format!("~ {p}: target {:?} -> {:?}", a.target, b.target),
        ));
    }
    if on(Attr::Rdev) && a.rdev != b.rdev {
        out.push(("rdev", format!("~ {p}: rdev {:?} -> {:?}", a.rdev, b.rdev)));
    }
    let mtime_on = on(Attr::Mtime)
        && !(a.kind == Kind::Dir && ignore.contains(&Attr::DirMtime))
        && !(a.kind == Kind::Symlink && ignore.contains(&Attr::SymlinkMtime));
    if mtime_on && a.mtime != b.mtime {
        out.push(("mtime", format!("~ {p}: mtime {} -> {}", a.mtime, b.mtime)));
    }
    if on(Attr::Hardlink) && a.hardlink != b.hardlink {
        out.push((
            "hardlink",
            format!("~ {p}: hardlink {:?} -> {:?}", a.hardlink, b.hardlink),
        ));
    }
    if on(Attr::Xattrs) && a.xattrs != b.xattrs {
        out.push((
            "xattrs",
            format!("~ {p}: xattrs {:?} -> {:?}", a.xattrs, b.xattrs),
        ));
    }
}

/// Sum of the sizes of the regular files in `tree` (each inode counted once).
pub fn file_bytes(tree: &Tree) -> u64 {
    tree.iter()
        .filter(|(path, e)| {
            e.kind == Kind::File && e.hardlink.as_deref().is_none_or(|f| f == *path)
        })
        .map(|(_, e)| e.size)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshots_and_diffs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir(root.join("d")).unwrap();
        fs::write(root.join("d/a"), b"a").unwrap();
        fs::hard_link(root.join("d/a"), root.join("b")).unwrap();
        std::os::unix::fs::symlink("d/a", root.join("s")).unwrap();
        let before = snapshot(root);
        assert_eq!(before.len(), 4);
        assert_eq!(
            before[Path::new("b")].hardlink.as_deref(),
            Some(Path::new("b"))
        );
        assert_eq!(
            before[Path::new("d/a")].hardlink.as_deref(),
            Some(Path::new("b"))
        );
        assert_eq!(
            before[Path::new("s")].target.as_deref(),
            Some(Path::new("d/a"))
        );
        assert!(diff(&before, &snapshot(root)).is_empty());

        fs::remove_file(root.join("b")).unwrap();
        fs::write(root.join("d/a"), b"changed").unwrap();
        let after = snapshot(root);
        let lines = diff(&before, &after);
        assert!(lines.contains(&"- b (File)".to_owned()), "{lines:?}");
        assert!(
            lines.iter().any(|l| l.starts_with("~ d/a: size 1 -> 7")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|l| l.starts_with("~ d/a: hardlink")),
            "{lines:?}"
        );
        let attrs = differing_attrs(&before, &after);
        for attr in ["content", "hardlink", "presence"] {
            assert!(attrs.contains(&attr), "{attrs:?}");
        }
    }
}
