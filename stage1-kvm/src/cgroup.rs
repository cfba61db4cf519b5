//! A kvm pod under a parent cgroup (`cgroup_parent`: `--cgroup-parent`,
//! CRI's `linux.cgroup_parent`, such as kubelet's
//! `/kubepods/burstable/pod<uid>`): before it starts virtiofsd and qemu,
//! the supervisor moves itself into `<cgroup_parent>/rukt/<uuid>`, so the
//! whole VM is accounted to the parent and bounded by its limits. The VM's
//! own size stays the pod's resources; nothing is limited at this level.
//! `gc` removes the cgroup once the processes are gone. Without a parent,
//! a kvm pod's processes stay in the cgroup they were started in.

use std::path::Path;

use anyhow::Context;
use rukt_contract::PodManifest;
use rukt_sys::cgroupfs::{self, Layout};

/// The pod's cgroup path, if the manifest asks for a parent.
fn path(manifest: &PodManifest) -> Option<String> {
    let parent = manifest.cgroup_parent.as_deref()?;
    Some(format!(
        "{}/rukt/{}",
        parent.trim_end_matches('/'),
        manifest.uuid
    ))
}

/// Moves this process into the pod's cgroup below its parent (when it has
/// one), in every hierarchy.
pub fn join(manifest: &PodManifest) -> anyhow::Result<()> {
    let Some(path) = path(manifest) else {
        return Ok(());
    };
    let layout = Layout::detect();
    let pid = std::process::id().to_string();
    for dir in cgroupfs::dirs(layout, &path) {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create cgroup {}", dir.display()))?;
        if layout == Layout::V1 {
            inherit_cpuset(&dir);
        }
        std::fs::write(dir.join("cgroup.procs"), &pid)
            .with_context(|| format!("cannot move the supervisor into {}", dir.display()))?;
    }
    Ok(())
}

/// A new v1 cpuset cgroup has no CPUs or memory nodes, and no process may
/// join it: each level made here takes its parent's (the rest of the
/// hierarchies have no such file).
fn inherit_cpuset(dir: &Path) {
    let levels: Vec<&Path> = dir.ancestors().collect();
    for level in levels.iter().rev().skip(1) {
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let own = level.join(file);
            let empty = std::fs::read_to_string(&own).is_ok_and(|s| s.trim().is_empty());
            if let (true, Some(parent)) = (empty, level.parent())
                && let Ok(v) = std::fs::read_to_string(parent.join(file))
            {
                let _ = std::fs::write(&own, v.trim());
            }
        }
    }
}

/// Removes the pod's cgroup and, when it was the last pod there, the
/// parent's `rukt` level; the parent itself is its maker's (kubelet's).
pub fn remove(manifest: &PodManifest) {
    let Some(path) = path(manifest) else { return };
    let layout = Layout::detect();
    for dir in cgroupfs::dirs(layout, &path) {
        match cgroupfs::remove_tree(&dir) {
            Ok(()) => {
                if let Some(rukt) = dir.parent() {
                    let _ = std::fs::remove_dir(rukt);
                }
            }
            Err(e) => tracing::warn!("cannot remove cgroup {}: {e}", dir.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pods_cgroup_is_below_the_parent_asked_for() {
        let mut m: PodManifest = serde_json::from_str(
            r#"{"interface_version":2,"uuid":"u1","stage1":{"flavor":"kvm","path":"/s","interface_versions":[2]},"apps":[],"created":"t"}"#,
        )
        .unwrap();
        assert_eq!(path(&m), None);
        m.cgroup_parent = Some("/kubepods/pod1".into());
        assert_eq!(path(&m).as_deref(), Some("/kubepods/pod1/rukt/u1"));
    }
}
