//! The pod's cgroups, on cgroup v1 (one hierarchy per controller) and v2
//! (the unified tree). Each pod has `/rukt/<uuid>` with the pod-wide limits
//! and one child per app (`/rukt/<uuid>/<app>`, created by libcontainer with
//! the app's limits). This module makes the pod level, reads what happened
//! (OOM kills), kills what is left and removes the tree. Under a systemd
//! unit the tree nests below the unit's own cgroup ([`crate::unit`]):
//! `<unit>/rukt/<uuid>`; below a parent the manifest asks for,
//! `<cgroup_parent>/rukt/<uuid>`. The host's layout and hierarchies are
//! [`rukt_sys::cgroupfs`]'s.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use rukt_contract::Resources;
use rukt_contract::isolation::CPU_PERIOD_US;
pub use rukt_sys::cgroupfs::{Layout, v1_hierarchies};
use rukt_sys::cgroupfs::{ROOT, dirs};

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

/// The cgroup path (relative to a hierarchy's root) of pod `uuid`.
pub fn pod_path(uuid: &str) -> String {
    format!("{}/rukt/{uuid}", crate::unit::parent())
}

/// The cgroup path of `app` in pod `uuid`.
pub fn app_path(uuid: &str, app: &str) -> String {
    format!("{}/{app}", pod_path(uuid))
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(err("write", &path))
}

/// Creates the pod's cgroup and sets the pod-wide limits.
pub fn create_pod(layout: Layout, uuid: &str, limits: &Resources) -> Result<(), CgroupError> {
    let path = pod_path(uuid);
    for dir in dirs(layout, &path) {
        // The last pod of a parent may remove its `rukt` level meanwhile.
        let made = (0..3)
            .map(|_| std::fs::create_dir_all(&dir))
            .find(|r| !matches!(r, Err(e) if e.kind() == std::io::ErrorKind::NotFound))
            .unwrap_or_else(|| std::fs::create_dir_all(&dir));
        made.map_err(err("create", &dir))?;
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

/// `app`'s own cgroup directory in each v1 hierarchy, with the
/// hierarchy's name (`memory`, `cpu,cpuacct`): what its `/sys/fs/cgroup`
/// shows.
pub fn app_v1_dirs(uuid: &str, app: &str) -> Vec<(&'static OsStr, PathBuf)> {
    let own = app_path(uuid, app);
    v1_hierarchies()
        .iter()
        .filter_map(|h| Some((h.file_name()?, h.join(own.trim_start_matches('/')))))
        .collect()
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

/// cgroup v2 hands controllers down level by level: from the highest level
/// the pod may change ([`crate::unit::delegated`]: the root, or a unit's
/// delegated cgroup) down through the parent to `rukt` and `rukt/<uuid>`,
/// enable on each the ones it offers and does not hand down yet.
fn enable_v2_controllers(uuid: &str) -> Result<(), CgroupError> {
    let top = Path::new(ROOT).join(crate::unit::delegated().trim_start_matches('/'));
    let pod = Path::new(ROOT).join(pod_path(uuid).trim_start_matches('/'));
    let mut levels: Vec<&Path> = pod
        .ancestors()
        .take_while(|d| d.starts_with(&top))
        .collect();
    levels.reverse();
    for dir in levels {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        let (offered, handed) = (read("cgroup.controllers"), read("cgroup.subtree_control"));
        let missing: Vec<String> = offered
            .split_whitespace()
            .filter(|c| ["memory", "cpu", "pids", "io"].contains(c))
            .filter(|c| !handed.split_whitespace().any(|h| h == *c))
            .map(|c| format!("+{c}"))
            .collect();
        if !missing.is_empty() {
            write(dir, "cgroup.subtree_control", &missing.join(" "))?;
        }
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
    let clean = remove_pod(layout, uuid);
    if clean {
        remove_rukt_level(layout);
    }
    clean
}

/// Below a parent (a unit's or one asked for), the `rukt` level goes with
/// its last pod: whoever made the parent (kubelet) removes it, and a
/// leftover child would keep it busy. Another pod of the same parent
/// keeps it (`rmdir` fails on a cgroup with children).
fn remove_rukt_level(layout: Layout) {
    let parent = crate::unit::parent();
    if !parent.is_empty() {
        for dir in dirs(layout, &format!("{parent}/rukt")) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

fn remove_pod(layout: Layout, uuid: &str) -> bool {
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

/// [`rukt_sys::cgroupfs::remove_tree`], as a [`CgroupError`].
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    rukt_sys::cgroupfs::remove_tree(dir).map_err(err("remove", dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(app_path("u", "web"), "/rukt/u/web");
    }
}
