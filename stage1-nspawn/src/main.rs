//! rukt stage1 engine `nspawn`, the default: every pod in its own
//! namespaces and cgroup, apps confined by the defaults of the most careful
//! container runtimes (a minimal capability set, a seccomp allowlist,
//! no_new_privs, masked `/proc` and `/sys` paths, a minimal `/dev`). Built on
//! youki's libcontainer, which must be called from a single-threaded
//! process: this binary never starts a thread.
//!
//! The entrypoint is the first argument (`docs/stage1-interface.md`):
//! `run` ([`run`]: the pod's supervisor), `enter` ([`enter`]), `stop`
//! ([`stop`]), `gc` ([`gc`]), `interface-version`, `features` and, for a
//! mutable pod, `app-add|start|stop|rm|update` ([`app`]). Every one starts in
//! the pod directory. Errors end in `rukt_contract::runtime::engine`,
//! printed once as `rukt-stage1-nspawn: <context>: <cause>`, exit code 254.
//!
//! It depends on `rukt-contract` and `rukt-sys` only (and libcontainer),
//! never on stage0, the pods library or the image store: the contract is all
//! it knows of rukt (`scripts/check-layering.py` checks this on every CI run).

mod app;
mod apps;
mod attach;
mod bpf;
mod cgroups;
mod cgview;
mod console;
mod control;
mod create;
mod devices;
mod enter;
mod etc;
mod executor;
mod gc;
mod listen;
mod logs;
mod memory;
mod network;
mod notify;
mod pause;
mod phase;
mod podns;
mod propagation;
mod run;
mod rundir;
mod seccomp;
mod signals;
mod spec;
mod stop;
mod supervise;
mod sysctl;
mod unit;
mod warm;

use std::process::ExitCode;

use rukt_contract::runtime::engine::{self, Engine};
use rukt_contract::{AppArgs, AppStopArgs, EnterArgs, Feature, GcArgs, RunArgs, StopArgs};

use crate::control::Request;

struct Nspawn;

impl Engine for Nspawn {
    const NAME: &'static str = "rukt-stage1-nspawn";
    /// Everything a version 1 manifest can ask: its own UTS, network and
    /// IPC namespaces as asked ([`podns`]), per-app PID namespaces or the
    /// pod's ([`pause`]), pod and app cgroups ([`cgroups`]),
    /// `oom_score_adj`, capabilities, seccomp and read-only root and
    /// volumes in each app's OCI spec ([`spec`]), any number of apps, and a
    /// pty for `--interactive` ([`console`]); of version 2, CNI networks,
    /// published ports and DNS settings ([`network`], [`etc`]), per-app log
    /// files ([`logs`]), readiness (`rukt_contract::sdnotify`, an app's relayed
    /// by [`notify`]), socket activation ([`listen`]), mutable pods
    /// ([`supervise::mutable`]) and stage0's cgroup warm-up writer
    /// ([`warm`]).
    const FEATURES: &'static [Feature] = &[
        Feature::Hostname,
        Feature::NetNone,
        Feature::NetHost,
        Feature::IpcPod,
        Feature::IpcPrivate,
        Feature::IpcHost,
        Feature::PidPod,
        Feature::PidPrivate,
        Feature::PidHost,
        Feature::Resources,
        Feature::OomScoreAdj,
        Feature::Capabilities,
        Feature::Seccomp,
        Feature::ReadonlyRootfs,
        Feature::ReadonlyVolumes,
        Feature::MultipleApps,
        Feature::Interactive,
        Feature::Networks,
        Feature::Ports,
        Feature::Dns,
        Feature::RecursiveVolumes,
        Feature::VolumePropagation,
        Feature::AppLogs,
        Feature::NotifySocket,
        Feature::ListenFds,
        Feature::NotifyApp,
        Feature::MutablePods,
        Feature::AppSecurity,
        Feature::Sysctls,
        Feature::Attach,
        Feature::CgroupParent,
        Feature::StopSignal,
        Feature::AppTty,
        Feature::CgroupWarmup,
    ];

    fn run(args: &RunArgs) -> anyhow::Result<u8> {
        run::run(args)
    }
    fn enter(args: &EnterArgs) -> anyhow::Result<u8> {
        enter::enter(args)
    }
    fn stop(args: &StopArgs) -> anyhow::Result<()> {
        stop::stop(args)
    }
    fn gc(args: &GcArgs) -> anyhow::Result<()> {
        gc::gc(args)
    }
    fn app_add(args: &AppArgs) -> anyhow::Result<()> {
        app::change(args, |app| Request::Add { app })
    }
    fn app_start(args: &AppArgs) -> anyhow::Result<()> {
        app::change(args, |app| Request::Start { app })
    }
    fn app_stop(args: &AppStopArgs) -> anyhow::Result<()> {
        app::stop(args)
    }
    fn app_rm(args: &AppArgs) -> anyhow::Result<()> {
        app::change(args, |app| Request::Rm { app })
    }
    fn app_update(args: &AppArgs) -> anyhow::Result<()> {
        app::change(args, |app| Request::Update { app })
    }

    /// Warnings without `--debug`, and nothing of libcontainer's own log: its
    /// errors reach the user once, as the cause in our error message.
    fn log_filter(debug: bool) -> Option<&'static str> {
        Some(if debug {
            "debug"
        } else {
            "warn,libcgroups=off,libcontainer=off"
        })
    }
}

fn main() -> ExitCode {
    engine::main::<Nspawn>()
}
