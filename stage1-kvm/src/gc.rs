//! `gc [--debug] UUID`: called by stage0 on an exited pod before it
//! removes the pod directory. The supervisor normally ends its VM itself,
//! and qemu and virtiofsd die with it (`PR_SET_PDEATHSIG`); this kills any
//! recorded process that is still alive all the same (same PID and start
//! time), and removes the sockets. Nothing of a kvm pod is mounted on the
//! host (virtiofsd's binds live in its own mount namespace), so there is
//! nothing to unmount. Idempotent.

use rukt_contract::GcArgs;
use tracing::debug;

use crate::{pod, procs};

/// Frees what the pod's VM left.
pub fn gc(args: &GcArgs) -> anyhow::Result<()> {
    pod::load(&args.uuid)?;
    let stage1 = pod::dir()?.join(rukt_contract::STAGE1_DIR);
    let killed = procs::kill_recorded(&stage1, None)?;
    debug!("killed {killed} leftover process(es)");
    for sock in ["fs.sock", "guest.sock", "control.sock"] {
        let _ = std::fs::remove_file(stage1.join(sock));
    }
    Ok(())
}
