//! What a pod asks of its engine, and the refusal when the engine would not
//! do it. Each engine declares the features it enforces (`STAGE1 features`);
//! a flag the chosen engine would ignore is refused before anything is
//! created or mounted, so nobody believes a pod is confined, limited or
//! given a terminal when it is not.

use std::collections::BTreeSet;

use rukt_contract::{Feature, NetMode};

use crate::spec::{AppSpec, PodSpec};

/// The chosen stage1 would not enforce what the pod asks.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the {flavor} stage1 does not enforce {}; leave {} out or choose another --stage1",
    flags(missing),
    if missing.len() == 1 { "it" } else { "them" }
)]
pub struct Unsupported {
    /// The stage1's flavor.
    pub flavor: String,
    /// What it lacks, in a stable order.
    pub missing: BTreeSet<Feature>,
}

fn flags(missing: &BTreeSet<Feature>) -> String {
    missing
        .iter()
        .map(|f| f.flag())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The features an app's explicit requests need.
pub fn required_by_app(
    app: &AppSpec,
    volumes_read_only: impl Fn(&str) -> bool,
) -> BTreeSet<Feature> {
    let mut need = BTreeSet::new();
    let mut want = |given: bool, f: Feature| {
        if given {
            need.insert(f);
        }
    };
    want(!app.resources.is_empty(), Feature::Resources);
    want(
        app.caps_retain.is_some() || !app.caps_remove.is_empty(),
        Feature::Capabilities,
    );
    want(app.seccomp.is_some(), Feature::Seccomp);
    want(app.oom_score_adj.is_some(), Feature::OomScoreAdj);
    want(app.readonly_rootfs, Feature::ReadonlyRootfs);
    want(app.security.asks_enforcement(), Feature::AppSecurity);
    want(app.stdin, Feature::Attach);
    want(app.stop_signal.is_some(), Feature::StopSignal);
    want(app.tty, Feature::AppTty);
    want(
        app.host_mounts.iter().any(|m| m.read_only),
        Feature::ReadonlyVolumes,
    );
    want(
        app.host_mounts.iter().any(|m| m.propagation.is_some()),
        Feature::VolumePropagation,
    );
    want(
        app.mounts.iter().any(|(v, _)| volumes_read_only(v)),
        Feature::ReadonlyVolumes,
    );
    need
}

/// The features a whole pod's explicit requests need.
pub fn required_by_pod(spec: &PodSpec) -> BTreeSet<Feature> {
    let read_only = |name: &str| spec.volumes.iter().any(|v| v.name == name && v.read_only);
    let mut need: BTreeSet<Feature> = spec
        .apps
        .iter()
        .flat_map(|a| required_by_app(a, read_only))
        .collect();
    let mut want = |given: bool, f: Feature| {
        if given {
            need.insert(f);
        }
    };
    want(spec.hostname.is_some(), Feature::Hostname);
    want(spec.net == Some(NetMode::None), Feature::NetNone);
    want(spec.net == Some(NetMode::Host), Feature::NetHost);
    want(!spec.networks.is_empty(), Feature::Networks);
    want(!spec.ports.is_empty(), Feature::Ports);
    want(!spec.dns.is_empty(), Feature::Dns);
    want(
        spec.volumes.iter().any(|v| v.recursive.is_some()),
        Feature::RecursiveVolumes,
    );
    want(
        spec.volumes.iter().any(|v| v.propagation.is_some()),
        Feature::VolumePropagation,
    );
    if let Some(mode) = spec.ipc {
        want(true, Feature::ipc(mode));
    }
    if let Some(mode) = spec.pid {
        want(true, Feature::pid(mode));
    }
    want(!spec.resources.is_empty(), Feature::Resources);
    want(spec.apps.len() > 1, Feature::MultipleApps);
    want(spec.interactive, Feature::Interactive);
    want(spec.mutable, Feature::MutablePods);
    want(!spec.sysctls.is_empty(), Feature::Sysctls);
    want(spec.cgroup_parent.is_some(), Feature::CgroupParent);
    want(spec.kvm_accel.is_some(), Feature::KvmAccel);
    want(
        matches!(spec.sd_notify, rukt_contract::sdnotify::SdNotify::App(_)),
        Feature::NotifyApp,
    );
    need
}

/// Whether `e` is an [`Unsupported`], directly or as the library's errors
/// carry it (they show it transparently, so it is not in their source
/// chain): front-ends map it to their usage error.
pub fn is_unsupported(e: &(dyn std::error::Error + 'static)) -> bool {
    use crate::app::AppError;
    use crate::prepare::PrepareError;
    use crate::run::RunError;
    e.is::<Unsupported>()
        || matches!(e.downcast_ref(), Some(PrepareError::Unsupported(_)))
        || matches!(e.downcast_ref(), Some(RunError::Unsupported(_)))
        || matches!(e.downcast_ref(), Some(AppError::Unsupported(_)))
}
