//! The pod's cgroups, on cgroup v1 (one hierarchy per controller) and v2
//! (the unified tree). Each pod has `/rukt/<uuid>` with the pod-wide limits
//! and one child per app (`/rukt/<uuid>/<app>`, created by libcontainer with
//! the app's limits). This module makes the pod level, reads what happened
//! (OOM kills), kills what is left and removes the tree. Under a systemd
//! unit the tree nests below the unit's own cgroup ([`crate::unit`]):
//! `<unit>/rukt/<uuid>`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rukt_contract::Resources;
use rukt_contract::isolation::CPU_PERIOD_US;

/// Where cgroup filesystems are mounted.
const ROOT: &str = "/sys/fs/cgroup";
/// `statfs` magic of a cgroup v1 hierarchy.
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;

/// A cgroup failure.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct CgroupError {
    action: &'static str,
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

fn err(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CgroupError {
    let path = path.to_path_buf();
    move |source| CgroupError {
        action,
        path,
        source,
    }
}

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

/// The cgroup path (relative to a hierarchy's root) of pod `uuid`.
pub fn pod_path(uuid: &str) -> String {
    format!("{}/rukt/{uuid}", crate::unit::parent())
}

/// The cgroup path of `app` in pod `uuid`.
pub fn app_path(uuid: &str, app: &str) -> String {
    format!("{}/{app}", pod_path(uuid))
}

/// The directories of cgroup `path` in every hierarchy that has it (or would).
fn dirs(layout: Layout, path: &str) -> Vec<PathBuf> {
    let rel = path.trim_start_matches('/');
    match layout {
        Layout::Unified => vec![Path::new(ROOT).join(rel)],
        Layout::V1 => v1_hierarchies().iter().map(|d| d.join(rel)).collect(),
    }
}

/// Every v1 hierarchy mounted under `/sys/fs/cgroup` (libcontainer makes the
/// app's cgroup in each of them), once each: `cpu` and `cpuacct` are often
/// links to one `cpu,cpuacct`. Looked up once per process (about 50 system
/// calls: it was done again for every walk of the pod's cgroups).
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

fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(err("write", &path))
}

/// Creates the pod's cgroup and sets the pod-wide limits.
pub fn create_pod(layout: Layout, uuid: &str, limits: &Resources) -> Result<(), CgroupError> {
    let path = pod_path(uuid);
    for dir in dirs(layout, &path) {
        std::fs::create_dir_all(&dir).map_err(err("create", &dir))?;
    }
    if layout == Layout::Unified {
        enable_v2_controllers(uuid)?;
    }
    set_limits(layout, &path, limits)
}

/// Makes `app`'s cgroup in every v1 hierarchy (before libcontainer does, for
/// binds of it: `crate::spec`'s cgroup mounts).
pub fn create_app_v1(uuid: &str, app: &str) -> Result<(), CgroupError> {
    for dir in dirs(Layout::V1, &app_path(uuid, app)) {
        std::fs::create_dir_all(&dir).map_err(err("create", &dir))?;
    }
    Ok(())
}

/// Applies `app`'s limits again (`app-update`), to its own cgroup.
pub fn update_app(
    layout: Layout,
    uuid: &str,
    app: &str,
    limits: &Resources,
) -> Result<(), CgroupError> {
    set_limits(layout, &app_path(uuid, app), limits)
}

/// Writes `limits` into cgroup `path`.
fn set_limits(layout: Layout, path: &str, limits: &Resources) -> Result<(), CgroupError> {
    match layout {
        Layout::Unified => {
            let dir = Path::new(ROOT).join(path.trim_start_matches('/'));
            if let Some(m) = limits.memory {
                write(&dir, "memory.max", &m.to_string())?;
                let _ = write(&dir, "memory.swap.max", "0");
            }
            if let Some(q) = limits.cpu_quota_us() {
                write(&dir, "cpu.max", &format!("{q} {CPU_PERIOD_US}"))?;
            }
            if let Some(w) = limits.cpu_weight() {
                write(&dir, "cpu.weight", &w.to_string())?;
            }
            if let Some(p) = limits.pids {
                write(&dir, "pids.max", &p.to_string())?;
            }
        }
        Layout::V1 => {
            let rel = path.trim_start_matches('/');
            let at = |c: &str| Path::new(ROOT).join(c).join(rel);
            if let Some(m) = limits.memory {
                let (dir, m) = (at("memory"), m.to_string());
                // No swap beyond the limit, where swap accounting exists;
                // memory+swap may never be below memory, so when the limit
                // rises it goes first.
                let memsw = dir.join("memory.memsw.limit_in_bytes").exists();
                if write(&dir, "memory.limit_in_bytes", &m).is_err() && memsw {
                    write(&dir, "memory.memsw.limit_in_bytes", &m)?;
                }
                write(&dir, "memory.limit_in_bytes", &m)?;
                if memsw {
                    write(&dir, "memory.memsw.limit_in_bytes", &m)?;
                }
            }
            if let Some(q) = limits.cpu_quota_us() {
                write(&at("cpu"), "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
                write(&at("cpu"), "cpu.cfs_quota_us", &q.to_string())?;
            }
            if let Some(s) = limits.cpu_shares {
                write(&at("cpu"), "cpu.shares", &s.to_string())?;
            }
            if let Some(p) = limits.pids {
                write(&at("pids"), "pids.max", &p.to_string())?;
            }
        }
    }
    Ok(())
}

/// cgroup v2 hands controllers down level by level: enable the ones the
/// parent (the root, or a unit's delegated cgroup) offers on it, `rukt` and
/// `rukt/<uuid>`.
fn enable_v2_controllers(uuid: &str) -> Result<(), CgroupError> {
    let root = Path::new(ROOT).join(crate::unit::parent().trim_start_matches('/'));
    let available = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
    let wanted: Vec<String> = available
        .split_whitespace()
        .filter(|c| ["memory", "cpu", "pids", "io"].contains(c))
        .map(|c| format!("+{c}"))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    for dir in [
        root.to_path_buf(),
        root.join("rukt"),
        root.join("rukt").join(uuid),
    ] {
        write(&dir, "cgroup.subtree_control", &wanted.join(" "))?;
    }
    Ok(())
}

/// How many times the OOM killer killed a task because of the limit of
/// cgroup `path`.
pub fn oom_kills(layout: Layout, path: &str) -> u64 {
    let rel = path.trim_start_matches('/');
    let (file, dir) = match layout {
        Layout::Unified => ("memory.events", Path::new(ROOT).join(rel)),
        Layout::V1 => (
            "memory.oom_control",
            Path::new(ROOT).join("memory").join(rel),
        ),
    };
    std::fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("oom_kill "))
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Every process in cgroup `path` and below.
pub fn pids(layout: Layout, path: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for dir in dirs(layout, path) {
        collect_pids(&dir, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_pids(&e.path(), out);
            }
        }
    }
}

/// Sends `signal` to every process in the pod's cgroups.
pub fn signal_all(layout: Layout, uuid: &str, signal: i32) -> usize {
    let pids = pids(layout, &pod_path(uuid));
    for pid in &pids {
        // SAFETY: kill(2) has no memory effects; a stale pid gets ESRCH.
        unsafe { libc::kill(*pid, signal) };
    }
    pids.len()
}

/// Kills what is left in the pod's cgroups and removes them, deepest first.
/// Returns whether everything is gone.
///
/// A cgroup that holds a process cannot be removed (`EBUSY`), so removal is
/// tried first: when it succeeds everywhere, nothing was left to kill and the
/// walk through every hierarchy's `cgroup.procs` is saved (the usual end of
/// a pod, whose apps are gone). Otherwise what is left is killed, and the
/// rest removed.
pub fn destroy_pod(layout: Layout, uuid: &str) -> bool {
    let dirs = dirs(layout, &pod_path(uuid));
    if dirs.iter().all(|d| remove_tree(d).is_ok()) {
        return true;
    }
    for _ in 0..50 {
        if signal_all(layout, uuid, libc::SIGKILL) == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut clean = true;
    for dir in &dirs {
        if let Err(e) = remove_tree(dir) {
            tracing::warn!("{e}");
            clean = false;
        }
    }
    clean
}

/// Removes a cgroup directory tree (cgroup dirs hold only virtual files, so
/// `rmdir` bottom-up is the way). Every child is tried; the first failure
/// (a busy cgroup) is returned.
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err("read", dir)(e)),
    };
    let mut children = Ok(());
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            children = children.and(remove_tree(&e.path()));
        }
    }
    children?;
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(err("remove", dir)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(app_path("u", "web"), "/rukt/u/web");
    }
}
