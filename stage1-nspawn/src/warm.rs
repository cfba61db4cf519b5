//! The supervisor's cgroup warm-up writer ([`rukt_sys::warm`] says why:
//! the first `cgroup.procs` write after a quiet spell waits for an RCU
//! grace period). libcontainer makes that write when it puts an app's
//! first process into its cgroup, the largest single cost of a pod's
//! start, with nothing else to do meanwhile.
//!
//! stage0 starts the writer right before it execs this engine (which
//! declares `cgroup-warmup`) and names it in `RUKT_CGROUP_WARM_PID`: the
//! grace period then runs while this binary loads and reads its pod. The
//! supervisor takes it over first thing ([`handed`]); the first `mkdir` of
//! the pod's cgroups waits for what is left of the grace period (the kernel
//! holds its cgroup mutex during the first wait), and every write after
//! that is quick. Without one (`run` by hand, an older stage0), the
//! supervisor forks its own once the pod's and the apps' cgroups exist
//! (making them after its start would wait). Either way the writer writes
//! every [`rukt_sys::warm::PERIOD`], which keeps the kernel in its quick
//! mode, until every app has joined its cgroup (its drop ends it), and
//! the supervisor goes on meanwhile (the networks' CNI plugins,
//! namespaces, `/etc` files, the bundle, libcontainer's state, its clone
//! and cgroup manager). It is a process, not a thread, because
//! libcontainer wants its caller single-threaded; the supervisor reaps it
//! with its apps' exits.

use rukt_contract::{App, ENV_CGROUP_WARM_PID, PodManifest};
use rukt_sys::warm::Writer;

use crate::cgroups::{self, CgroupError, Layout};

/// The writer; dropping it ends it.
pub type Warm = Writer;

/// The writer stage0 handed on, if it did: called before this process
/// reaps any child, so the PID is still that child's.
pub fn handed() -> Option<Warm> {
    let pid = std::env::var(ENV_CGROUP_WARM_PID).ok()?;
    let writer = Writer::adopt(&pid);
    match &writer {
        Some(w) => tracing::debug!(pid = w.pid(), "took over stage0's cgroup warm-up writer"),
        None => tracing::debug!("{ENV_CGROUP_WARM_PID}={pid} names no child of the supervisor"),
    }
    writer
}

/// Makes what must exist before `apps`' containers are created, on cgroup
/// v1 their own cgroups (their `/sys/fs/cgroup` binds them, see
/// [`crate::cgview`]), and keeps the writer stage0 `handed` on or starts
/// one; none for no apps (a sandbox's start: nothing joins a cgroup then).
pub fn prepare<'a>(
    layout: Layout,
    pod: &PodManifest,
    apps: impl IntoIterator<Item = &'a App>,
    handed: Option<Warm>,
) -> Result<Option<Warm>, CgroupError> {
    let bound = layout == Layout::V1;
    let mut any = false;
    for app in apps {
        any = true;
        if bound {
            cgroups::create_app_v1(&pod.uuid, &app.name)?;
        }
    }
    if !any {
        return Ok(None);
    }
    Ok(handed.or_else(|| {
        let started = Writer::start(layout);
        if started.is_none() {
            tracing::debug!("no cgroup warm-up writer: no own cgroup.procs, or fork failed");
        }
        started
    }))
}
