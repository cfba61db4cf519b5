//! rukt stage1 engine `kvm`: every pod in its own micro-VM.
//!
//! The stage1 process boots a qemu `microvm` with Debian's cloud kernel and
//! rukt's own initramfs (`rukt-kvm-init` as `/init`), shares the apps' roots
//! and the volumes with the guest over virtiofs, and stays as the VM's
//! supervisor: it holds the pod lock, relays the apps' output and exit
//! statuses, and serves `enter` and `stop` (docs/stage1-kvm.md).
//!
//! The entrypoint is the first argument (`docs/stage1-interface.md`): `run`
//! ([`run`]), `enter` ([`enter`]), `stop` ([`stop`]), `gc` ([`gc`]),
//! `interface-version` and `features`; a mutable pod's `app-add|start|stop|rm|update`
//! ([`app`]). Errors end in the contract's engine main, printed once as
//! `rukt-stage1-kvm: <context>: <cause>`, with exit code 254
//! (`rukt_contract::runtime::engine`).
//!
//! It depends on `rukt-contract`, `rukt-sys` and its own guest init only,
//! never on stage0, the pods library or the image store
//! (`scripts/check-layering.py` checks this).

mod accel;
mod activation;
mod app;
mod artifacts;
mod cache;
mod cgroup;
mod cmdline;
mod cpio;
mod enter;
mod gc;
mod host;
mod kernel;
mod logs;
mod network;
mod pod;
mod procs;
mod run;
mod share;
mod share_live;
mod sizing;
mod stop;
mod supervisor;
mod tc;
mod vmm;

use std::process::ExitCode;

use rukt_contract::runtime::engine::{self, Engine};
use rukt_contract::{AppArgs, AppStopArgs, EnterArgs, Feature, GcArgs, RunArgs, StopArgs};
use rukt_kvm_init::proto::Kind;

struct Kvm;

impl Engine for Kvm {
    const NAME: &'static str = "rukt-stage1-kvm";
    /// What the VM and the guest init do: the guest's hostname, no network
    /// device (`--net=none`; `host` is refused in [`run`]) or CNI networks
    /// plumbed to the VM's NICs with published ports and the pod's DNS
    /// settings ([`network`]), the VM sized by
    /// and each app's guest cgroup limited by the resources, each app's
    /// `oom_score_adj` and capability bounding set, its volumes read-only
    /// as asked and its root remounted read-only, any number of apps, all
    /// in the guest's one IPC and one PID namespace (`--ipc=pod`,
    /// `--pid=pod`), and the choice of accelerator. Not: private or host
    /// IPC and PID namespaces, seccomp (no filter in the guest), a pty for
    /// `--interactive` (stdin is forwarded, output relayed), socket activation.
    /// Of version 2: per-app log files ([`logs`]), readiness, mutable
    /// pods ([`app`], [`supervisor::Mutable`]) and attaching to their apps,
    /// the VM's processes in a parent cgroup ([`cgroup`]) and each app's
    /// stop signal (sent by the guest init).
    const FEATURES: &'static [Feature] = &[
        Feature::Hostname,
        Feature::NetNone,
        Feature::Networks,
        Feature::Ports,
        Feature::Dns,
        Feature::IpcPod,
        Feature::PidPod,
        Feature::KvmAccel,
        Feature::Resources,
        Feature::OomScoreAdj,
        Feature::Capabilities,
        Feature::ReadonlyRootfs,
        Feature::ReadonlyVolumes,
        Feature::MultipleApps,
        Feature::AppLogs,
        Feature::NotifySocket,
        Feature::NotifyApp,
        Feature::ListenFds,
        Feature::MutablePods,
        Feature::Attach,
        Feature::CgroupParent,
        Feature::StopSignal,
        Feature::Sysctls,
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
        app::change(args, Kind::AppAdd)
    }
    fn app_start(args: &AppArgs) -> anyhow::Result<()> {
        app::change(args, Kind::AppStart)
    }
    fn app_stop(args: &AppStopArgs) -> anyhow::Result<()> {
        app::stop(args)
    }
    fn app_rm(args: &AppArgs) -> anyhow::Result<()> {
        app::change(args, Kind::AppRm)
    }
    fn app_update(args: &AppArgs) -> anyhow::Result<()> {
        app::change(args, Kind::AppUpdate)
    }
    /// Warnings (the TCG fallback) always; everything with `--debug`.
    fn log_filter(debug: bool) -> Option<&'static str> {
        Some(if debug { "debug" } else { "warn" })
    }
}

fn main() -> ExitCode {
    engine::main::<Kvm>()
}
