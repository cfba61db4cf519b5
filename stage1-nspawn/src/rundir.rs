//! The supervisor's ephemeral state, kept in the pod's run directory
//! (`rukt_contract::pod_run_dir`, `/run/rukt/pods/<uuid>`) rather than in
//! the pod directory: libcontainer's container state, the apps' bundles,
//! the pod's `/etc` files, the v1 cgroup views, the notify and console
//! sockets, `enter`'s process files. None of it outlives the pod's
//! processes, and on the store's disk each of those files is an inode
//! created at every start and removed at every gc (about 20 a pod); on
//! `/run`'s tmpfs they cost no disk writes. What stage0 or a later `gc`
//! reads (the cgroup parent, the control and attach sockets) stays in the
//! pod directory's `stage1/`.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The run directory of the pod at `pod_dir` (whose name is its UUID).
pub fn of(pod_dir: &Path) -> PathBuf {
    let uuid = pod_dir.file_name().unwrap_or_default();
    rukt_contract::pod_run_dir(&uuid.to_string_lossy())
}

/// Creates the run directory of the pod at `pod_dir`, private to root
/// (0700, as every directory it creates on the way).
pub fn create(pod_dir: &Path) -> anyhow::Result<()> {
    let dir = of(pod_dir);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_s_run_directory_is_named_by_its_uuid() {
        let pod = Path::new("/var/lib/rukt/pods/run/0f1e2d3c-aaaa-bbbb-cccc-0123456789ab");
        assert_eq!(
            of(pod),
            Path::new("/run/rukt/pods/0f1e2d3c-aaaa-bbbb-cccc-0123456789ab")
        );
    }
}
