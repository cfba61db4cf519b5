//! rukt stage1 engine `fly`: one app per pod, chrooted into its root
//! filesystem but otherwise in the host's namespaces, as rkt's stage1-fly.
//!
//! stage0 → stage1 → app are all execs, so the app keeps the PID the caller
//! started and signals reach it directly. There is no isolation beyond the
//! chroot: fly is for agents that manage their own host (kubelet, etcd,
//! configuration management) through mounted host directories.
//!
//! The entrypoint is the first argument (`docs/stage1-interface.md`):
//! `run` ([`run`]), `enter` ([`enter`]), `stop` ([`stop`]), `gc` ([`gc`]),
//! `interface-version` and `features`; `app-*` fail (one app, no mutable
//! pods). Every one starts in the pod directory. Errors end
//! in `rukt_contract::runtime::engine`, printed once as
//! `rukt-stage1-fly: <context>: <cause>`, with exit code 254.
//!
//! It depends on `rukt-contract` and `rukt-sys` only, never on stage0, the
//! pods library or the image store (`scripts/check-layering.py` checks this).

mod enter;
mod exec;
mod exitinfo;
mod gc;
mod listen;
mod mounts;
mod notify;
mod pod;
mod resolve;
mod run;
mod stop;
mod user;
mod watcher;

use std::process::ExitCode;

use rukt_contract::runtime::engine::{self, Engine};
use rukt_contract::{EnterArgs, Feature, GcArgs, RunArgs, StopArgs};

struct Fly;

impl Engine for Fly {
    const NAME: &'static str = "rukt-stage1-fly";
    /// Only what a chroot in the host's namespaces gives: the host's
    /// network, IPC and PID namespaces (`--net=host`, `--ipc=host`,
    /// `--pid=host` are what it always has), read-only volumes and
    /// root filesystem ([`mounts`], [`run`]), and the caller's terminal
    /// (the app is exec'd on it). One app per pod ([`pod::single_app`]
    /// refuses more again); no hostname, namespaces, limits, capabilities,
    /// seccomp or `oom_score_adj`.
    const FEATURES: &'static [Feature] = &[
        Feature::NetHost,
        Feature::IpcHost,
        Feature::PidHost,
        Feature::ReadonlyRootfs,
        Feature::ReadonlyVolumes,
        Feature::RecursiveVolumes,
        Feature::VolumePropagation,
        Feature::Interactive,
        Feature::ListenFds,
        Feature::NotifySocket,
        Feature::NotifyApp,
        Feature::StopSignal,
    ];

    /// Returns only on failure: on success the process became the app.
    fn run(args: &RunArgs) -> anyhow::Result<u8> {
        match run::run(args)? {}
    }
    /// Returns only on failure: on success the process became the command.
    fn enter(args: &EnterArgs) -> anyhow::Result<u8> {
        match enter::enter(args)? {}
    }
    fn stop(args: &StopArgs) -> anyhow::Result<()> {
        stop::stop(args)
    }
    fn gc(args: &GcArgs) -> anyhow::Result<()> {
        gc::gc(args)
    }
}

fn main() -> ExitCode {
    engine::main::<Fly>()
}
