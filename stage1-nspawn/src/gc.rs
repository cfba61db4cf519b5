//! `gc`: frees what an exited pod still holds outside its directory: its
//! cgroups (with any process left in them, for instance after the
//! supervisor was killed with SIGKILL) and its networks (leases, links,
//! rules, the namespace), which a killed supervisor could not detach. stage0 then unmounts and removes
//! the pod directory, libcontainer's state included.

use anyhow::bail;
use rukt_contract::GcArgs;
use rukt_contract::runtime::load_manifest;

use crate::cgroups::{self, Layout};

/// Cleans up after the exited pod. stage0 calls this holding the pod lock
/// itself, after checking that no stage1 holds it.
pub fn gc(args: &GcArgs) -> anyhow::Result<()> {
    let pod = load_manifest(&args.uuid)?;
    if !cgroups::destroy_pod(Layout::detect(), &pod.uuid) {
        bail!("cannot remove every cgroup of the pod");
    }
    let pod_dir = std::env::current_dir()?;
    crate::network::detach_leftovers(&pod_dir, &pod)
}
