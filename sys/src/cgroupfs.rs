//! The cgroup filesystems under `/sys/fs/cgroup`, as both cgroup-using
//! engines need them: which layout the host has, its v1 hierarchies, the
//! directories of one cgroup path in each, and removing a cgroup tree
//! (cgroup directories hold only virtual files, so it is `rmdir` bottom
//! up).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where cgroup filesystems are mounted.
pub const ROOT: &str = "/sys/fs/cgroup";
/// `statfs` magic of a cgroup v1 hierarchy.
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;

/// The cgroup layout of this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `/sys/fs/cgroup` is cgroup2.
    Unified,
    /// v1 controllers (hybrid or legacy).
    V1,
}

impl Layout {
    /// Looks at `/sys/fs/cgroup`.
    pub fn detect() -> Layout {
        match rustix::fs::statfs(ROOT) {
            Ok(st) if st.f_type == libc::CGROUP2_SUPER_MAGIC => Layout::Unified,
            _ => Layout::V1,
        }
    }
}

/// Every v1 hierarchy mounted under `/sys/fs/cgroup`, once each: `cpu` and
/// `cpuacct` are often links to one `cpu,cpuacct`. Looked up once per
/// process (about 50 system calls).
pub fn v1_hierarchies() -> &'static [PathBuf] {
    static FOUND: OnceLock<Vec<PathBuf>> = OnceLock::new();
    FOUND.get_or_init(find_v1_hierarchies)
}

fn find_v1_hierarchies() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = Vec::new();
    let Ok(entries) = std::fs::read_dir(ROOT) else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(real) = std::fs::canonicalize(e.path()) else {
            continue;
        };
        let is_v1 = rustix::fs::statfs(&real).is_ok_and(|st| st.f_type == CGROUP_SUPER_MAGIC);
        if is_v1 && !out.contains(&real) {
            out.push(real);
        }
    }
    out
}

/// The directories of cgroup `path` (relative to a hierarchy's root) in
/// every hierarchy that has it (or would).
pub fn dirs(layout: Layout, path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    match layout {
        Layout::Unified => vec![Path::new(ROOT).join(rel)],
        Layout::V1 => v1_hierarchies().iter().map(|d| d.join(rel)).collect(),
    }
}

/// Removes the cgroup directory tree at `dir`: every child is tried, and
/// the first failure (a cgroup that still holds a process is busy) is
/// returned. A missing `dir` is no error.
pub fn remove_tree(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut children = Ok(());
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            children = children.and(remove_tree(&e.path()));
        }
    }
    children?;
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_of_plain_directories_is_removed_bottom_up() {
        let t = tempfile::tempdir().unwrap();
        let top = t.path().join("pod");
        std::fs::create_dir_all(top.join("a/b")).unwrap();
        std::fs::create_dir_all(top.join("c")).unwrap();
        remove_tree(&top).unwrap();
        assert!(!top.exists());
        remove_tree(&top).unwrap();
    }

    #[test]
    fn this_host_has_a_layout_and_hierarchies_to_match() {
        match Layout::detect() {
            Layout::Unified => assert_eq!(dirs(Layout::Unified, "/a"), [Path::new(ROOT).join("a")]),
            Layout::V1 => assert!(dirs(Layout::V1, "/a").iter().all(|d| d.ends_with("a"))),
        }
    }
}
