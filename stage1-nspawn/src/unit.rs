//! Pods under a systemd unit (`ExecStart=rukt run …`, `Delegate=yes`):
//! the pod's cgroup tree nests inside the unit's own cgroup, so `systemctl
//! status` shows the pod's processes and the unit's limits apply to them
//! (rkt's `--keep-unit`). A unit is recognised by `INVOCATION_ID` and a
//! cgroup (`name=systemd` on v1, the unified one on v2) named `*.service`
//! or `*.scope`. On v2 the supervisor first moves into a leaf
//! `<unit>/supervisor`, since a cgroup with processes cannot hand
//! controllers down (podman's `--cgroups=split`); the apps go to
//! `<unit>/rukt/<uuid>/<app>`. From a shell nothing changes: `/rukt/<uuid>`.
//!
//! A parent the manifest names (`cgroup_parent`: `--cgroup-parent`, CRI's
//! `linux.cgroup_parent`) wins over the unit: the tree is then
//! `<cgroup_parent>/rukt/<uuid>` and the supervisor stays where it was
//! started, as a container runtime's shim does.
//!
//! The parent is chosen once by `run` and written to [`PARENT_FILE`], which
//! `enter`, `stop` and `gc` (started in the pod directory too) read back.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;

use crate::cgroups::Layout;

/// The chosen parent cgroup, below the pod directory (empty: the root).
pub const PARENT_FILE: &str = "stage1/cgroup-parent";

static PARENT: OnceLock<String> = OnceLock::new();
/// Whether the parent was asked for (`cgroup_parent`), not a unit's.
static ASKED: OnceLock<bool> = OnceLock::new();

/// The cgroup the pod's tree is below: `""` (a hierarchy's root) or a
/// unit's path.
pub fn parent() -> &'static str {
    PARENT.get_or_init(|| {
        std::fs::read_to_string(PARENT_FILE)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    })
}

/// The highest cgroup whose `cgroup.subtree_control` the pod may change
/// (v2): a unit's own cgroup is delegated to it, but no level above; an
/// asked-for parent is made from the root down.
pub fn delegated() -> &'static str {
    if ASKED.get().copied().unwrap_or(false) {
        ""
    } else {
        parent()
    }
}

/// The unit cgroup this process runs in, if it was started by systemd.
pub fn detect(layout: Layout, proc_cgroup: &str, invocation_id: bool) -> Option<String> {
    if !invocation_id {
        return None;
    }
    let path = proc_cgroup.lines().find_map(|l| {
        let (_, rest) = l.split_once(':')?;
        let (controllers, path) = rest.split_once(':')?;
        let wanted = match layout {
            Layout::Unified => controllers.is_empty(),
            Layout::V1 => controllers == "name=systemd",
        };
        wanted.then_some(path.trim())
    })?;
    let leaf = path.rsplit('/').next()?;
    (leaf.ends_with(".service") || leaf.ends_with(".scope")).then(|| path.to_string())
}

/// `run`: chooses the parent (the manifest's `cgroup_parent`, else this
/// process's unit, if any), records it in the pod directory and, for a
/// unit on v2, moves this process into its leaf. Call before anything asks
/// for a cgroup path.
pub fn adopt(layout: Layout, pod_dir: &Path, cgroup_parent: Option<&str>) -> anyhow::Result<()> {
    if let Some(parent) = cgroup_parent {
        tracing::debug!(parent, "making the pod's cgroups in the parent asked for");
        let _ = ASKED.set(true);
        return record(pod_dir, parent.to_string());
    }
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let unit = detect(layout, &own, std::env::var_os("INVOCATION_ID").is_some());
    let Some(unit) = unit else {
        let _ = PARENT.set(String::new());
        return Ok(());
    };
    tracing::debug!(unit, "nesting the pod's cgroups in its unit's");
    if layout == Layout::Unified {
        let leaf = Path::new("/sys/fs/cgroup")
            .join(unit.trim_start_matches('/'))
            .join("supervisor");
        std::fs::create_dir_all(&leaf)
            .and_then(|()| {
                std::fs::write(leaf.join("cgroup.procs"), std::process::id().to_string())
            })
            .with_context(|| {
                format!(
                    "cannot move into {} (does the unit have Delegate=yes?)",
                    leaf.display()
                )
            })?;
    }
    record(pod_dir, unit)
}

/// Writes `parent` to [`PARENT_FILE`] and makes it this process's.
fn record(pod_dir: &Path, parent: String) -> anyhow::Result<()> {
    std::fs::create_dir_all(pod_dir.join(rukt_contract::STAGE1_DIR))
        .context("cannot create the stage1 directory")?;
    let stage1 = std::fs::File::open(pod_dir.join(rukt_contract::STAGE1_DIR))
        .context("cannot open the stage1 directory")?;
    let name = Path::new(PARENT_FILE)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a name");
    rukt_contract::runtime::write_atomic(&stage1, name, parent.as_bytes())
        .context("cannot record the pod's parent cgroup")?;
    let _ = PARENT.set(parent);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str =
        "9:name=systemd:/system.slice/web.service\n4:memory:/system.slice/web.service\n0::/\n";
    const V2: &str = "0::/system.slice/rukt@web.service\n";

    #[test]
    fn a_unit_is_its_invocation_id_and_cgroup() {
        assert_eq!(
            detect(Layout::V1, V1, true).as_deref(),
            Some("/system.slice/web.service")
        );
        assert_eq!(
            detect(Layout::Unified, V2, true).as_deref(),
            Some("/system.slice/rukt@web.service")
        );
        assert_eq!(
            detect(Layout::V1, V1, false),
            None,
            "no INVOCATION_ID: a shell"
        );
        let session = "0::/user.slice/user-0.slice/session-3.scope\n";
        assert!(detect(Layout::Unified, session, true).is_some());
        assert_eq!(detect(Layout::Unified, "0::/\n", true), None);
        assert_eq!(
            detect(Layout::V1, "9:name=systemd:/user.slice\n", true),
            None
        );
    }
}
