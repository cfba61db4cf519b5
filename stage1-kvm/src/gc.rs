//! `gc [--debug] UUID`: called by stage0 on an exited pod before it
//! removes the pod directory. The supervisor normally ends its VM itself,
//! and qemu and virtiofsd die with it (`PR_SET_PDEATHSIG`); this kills any
//! recorded process that is still alive all the same (same PID and start
//! time), detaches the pod's networks if the supervisor could not
//! (`rukt_net::pod::teardown`), and removes the sockets. Nothing of a kvm pod is mounted on the
//! host (virtiofsd's binds live in its own mount namespace), so there is
//! nothing to unmount. The pod's cgroup below a parent goes too
//! ([`crate::cgroup`]). Idempotent.

use rukt_contract::GcArgs;
use tracing::debug;

use crate::{network, pod, procs};

/// Frees what the pod's VM left.
pub fn gc(args: &GcArgs) -> anyhow::Result<()> {
    let manifest = pod::load(&args.uuid)?;
    let pod_dir = pod::dir()?;
    let stage1 = pod_dir.join(rukt_contract::STAGE1_DIR);
    let killed = procs::kill_recorded(&stage1, None)?;
    debug!("killed {killed} leftover process(es)");
    network::detach_leftovers(&pod_dir, &manifest)?;
    crate::cgroup::remove(&manifest);
    for sock in ["fs.sock", "guest.sock", "control.sock"] {
        let _ = std::fs::remove_file(stage1.join(sock));
    }
    Ok(())
}
