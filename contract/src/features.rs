//! What a stage1 engine enforces, and the answer of its `features`
//! entrypoint (interface version 2; modelled on `runc features`). stage0
//! reads it before preparing a pod and refuses, before anything is created, a
//! flag the chosen engine would ignore. A stage1 that speaks only version 1
//! has no `features` entrypoint: stage0 assumes [`Stage1Features::version1`].

use std::collections::BTreeSet;

use serde::{Deserialize, Deserializer, Serialize};

use crate::isolation::Sharing;

/// One thing a pod can ask of its engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Feature {
    /// `--hostname` gives the pod its own UTS name.
    Hostname,
    /// `--net=none`: a network namespace of the pod's own, loopback only.
    NetNone,
    /// `--net=host`: the host's network namespace.
    NetHost,
    /// CNI networks: the manifest's `networks`, results in `net-info.json`.
    Networks,
    /// `--port`/`-p`: host ports forwarded to the pod (the manifest's `ports`).
    Ports,
    /// `--dns*`, `--hosts-entry`: the pod's resolver and hosts files as the
    /// manifest's `dns` says.
    Dns,
    /// `--ipc=pod`: one IPC namespace for the pod's apps.
    IpcPod,
    /// `--ipc=private`: an IPC namespace for each app.
    IpcPrivate,
    /// `--ipc=host`: the host's IPC namespace.
    IpcHost,
    /// `--pid=pod`: one PID namespace for the pod's apps.
    PidPod,
    /// `--pid=private`: a PID namespace for each app.
    PidPrivate,
    /// `--pid=host`: the host's PID namespace.
    PidHost,
    /// `--memory`, `--cpu`, `--cpu-shares`, `--pids-limit`.
    Resources,
    /// `--oom-score-adj`.
    OomScoreAdj,
    /// `--caps-retain`, `--caps-remove`.
    Capabilities,
    /// `--seccomp`.
    Seccomp,
    /// `--readonly-rootfs`.
    ReadonlyRootfs,
    /// Volumes with `readOnly=true` are read-only in the apps.
    ReadonlyVolumes,
    /// Host volumes with `recursive=true` bring their submounts.
    RecursiveVolumes,
    /// Host volumes with `propagation=shared|slave|private`.
    VolumePropagation,
    /// More than one app per pod.
    MultipleApps,
    /// `--interactive`: the app gets a terminal on the caller's.
    Interactive,
    /// `app-add`, `app-start`, `app-stop`, `app-rm` on a running pod.
    MutablePods,
    /// `LISTEN_FDS`/`LISTEN_FDNAMES` handed on to the apps.
    ListenFds,
    /// `NOTIFY_SOCKET`: `READY=1` sent once the apps run.
    NotifySocket,
    /// The apps' stdout and stderr also written to `logs/<app>.log`.
    AppLogs,
    /// `--sd-notify=app`: an app's own readiness, relayed.
    NotifyApp,
    /// `--kvm-accel`: the choice of the VM's accelerator.
    KvmAccel,
    /// An app's [`crate::AppSecurity`]: privileged, its own masked and
    /// read-only paths, new privileges allowed, an OCI seccomp profile or
    /// none (what CRI's security context asks).
    AppSecurity,
    /// The pod's namespaced sysctls ([`crate::PodManifest::sysctls`]).
    Sysctls,
    /// Attaching to a running app of a mutable pod ([`crate::attach`]),
    /// and apps with a stdin of their own ([`crate::App::stdin`]).
    Attach,
    /// The pod's cgroup below [`crate::PodManifest::cgroup_parent`].
    CgroupParent,
    /// An app's own stop signal ([`crate::App::stop_signal`]).
    StopSignal,
    /// An app whose stdio is a pseudo-terminal of its own
    /// ([`crate::App::tty`]), logged as stdout and attached to in frames.
    AppTty,
    /// The cgroup warm-up writer stage0 may start right before its exec
    /// ([`crate::ENV_CGROUP_WARM_PID`]), taken over and ended by the
    /// engine. Not something a pod asks: what the engine takes on.
    CgroupWarmup,
}

impl Feature {
    /// Every feature, in declaration order.
    pub const ALL: [Feature; 35] = [
        Feature::Hostname,
        Feature::NetNone,
        Feature::NetHost,
        Feature::Networks,
        Feature::Ports,
        Feature::Dns,
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
        Feature::RecursiveVolumes,
        Feature::VolumePropagation,
        Feature::MultipleApps,
        Feature::Interactive,
        Feature::MutablePods,
        Feature::ListenFds,
        Feature::NotifySocket,
        Feature::AppLogs,
        Feature::NotifyApp,
        Feature::KvmAccel,
        Feature::AppSecurity,
        Feature::Sysctls,
        Feature::Attach,
        Feature::CgroupParent,
        Feature::StopSignal,
        Feature::AppTty,
        Feature::CgroupWarmup,
    ];

    /// What version 1 could not express: a stage1 without `features` does
    /// none of these.
    pub const NEW_IN_2: [Feature; 17] = [
        Feature::Networks,
        Feature::Ports,
        Feature::Dns,
        Feature::RecursiveVolumes,
        Feature::VolumePropagation,
        Feature::MutablePods,
        Feature::ListenFds,
        Feature::NotifySocket,
        Feature::AppLogs,
        Feature::NotifyApp,
        Feature::AppSecurity,
        Feature::Sysctls,
        Feature::Attach,
        Feature::CgroupParent,
        Feature::StopSignal,
        Feature::AppTty,
        Feature::CgroupWarmup,
    ];

    /// Its name in `features` JSON (`readonly-rootfs`).
    pub fn name(self) -> &'static str {
        match self {
            Feature::Hostname => "hostname",
            Feature::NetNone => "net-none",
            Feature::NetHost => "net-host",
            Feature::Networks => "networks",
            Feature::Ports => "ports",
            Feature::Dns => "dns",
            Feature::IpcPod => "ipc-pod",
            Feature::IpcPrivate => "ipc-private",
            Feature::IpcHost => "ipc-host",
            Feature::PidPod => "pid-pod",
            Feature::PidPrivate => "pid-private",
            Feature::PidHost => "pid-host",
            Feature::Resources => "resources",
            Feature::OomScoreAdj => "oom-score-adj",
            Feature::Capabilities => "capabilities",
            Feature::Seccomp => "seccomp",
            Feature::ReadonlyRootfs => "readonly-rootfs",
            Feature::ReadonlyVolumes => "readonly-volumes",
            Feature::RecursiveVolumes => "recursive-volumes",
            Feature::VolumePropagation => "volume-propagation",
            Feature::MultipleApps => "multiple-apps",
            Feature::Interactive => "interactive",
            Feature::MutablePods => "mutable-pods",
            Feature::AppSecurity => "app-security",
            Feature::Sysctls => "sysctls",
            Feature::Attach => "attach",
            Feature::CgroupParent => "cgroup-parent",
            Feature::StopSignal => "stop-signal",
            Feature::AppTty => "app-tty",
            Feature::ListenFds => "listen-fds",
            Feature::NotifySocket => "notify-socket",
            Feature::AppLogs => "app-logs",
            Feature::NotifyApp => "notify-app",
            Feature::KvmAccel => "kvm-accel",
            Feature::CgroupWarmup => "cgroup-warmup",
        }
    }

    /// The feature `--ipc=MODE` asks for.
    pub fn ipc(mode: Sharing) -> Feature {
        match mode {
            Sharing::Pod => Feature::IpcPod,
            Sharing::Private => Feature::IpcPrivate,
            Sharing::Host => Feature::IpcHost,
        }
    }

    /// The feature `--pid=MODE` asks for.
    pub fn pid(mode: Sharing) -> Feature {
        match mode {
            Sharing::Pod => Feature::PidPod,
            Sharing::Private => Feature::PidPrivate,
            Sharing::Host => Feature::PidHost,
        }
    }

    /// The feature called `name`, if this version knows it.
    pub fn from_name(name: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.name() == name)
    }

    /// What the user typed to ask for it, for error messages (`--seccomp`).
    pub fn flag(self) -> &'static str {
        match self {
            Feature::Hostname => "--hostname",
            Feature::NetNone => "--net=none",
            Feature::NetHost => "--net=host",
            Feature::Networks => "--net=NETWORK",
            Feature::Ports => "--port/-p",
            Feature::Dns => "--dns/--dns-search/--dns-opt/--dns-domain/--hosts-entry",
            Feature::IpcPod => "--ipc=pod",
            Feature::IpcPrivate => "--ipc=private",
            Feature::IpcHost => "--ipc=host",
            Feature::PidPod => "--pid=pod",
            Feature::PidPrivate => "--pid=private",
            Feature::PidHost => "--pid=host",
            Feature::Resources => "--memory/--cpu/--cpu-shares/--pids-limit",
            Feature::OomScoreAdj => "--oom-score-adj",
            Feature::Capabilities => "--caps-retain/--caps-remove",
            Feature::Seccomp => "--seccomp",
            Feature::ReadonlyRootfs => "--readonly-rootfs",
            Feature::ReadonlyVolumes => "--volume ...,readOnly=true",
            Feature::RecursiveVolumes => "--volume ...,recursive=true",
            Feature::VolumePropagation => "--volume ...,propagation=",
            Feature::MultipleApps => "more than one app",
            Feature::Interactive => "--interactive",
            Feature::MutablePods => "rukt app add|start|stop|rm",
            Feature::AppSecurity => {
                "a privileged app, its own masked or read-only paths, new privileges or a seccomp profile"
            }
            Feature::Sysctls => "sysctls",
            Feature::Attach => "an app's own stdin, attach",
            Feature::CgroupParent => "--cgroup-parent",
            Feature::StopSignal => "--stop-signal",
            Feature::AppTty => "--tty/-t (an app's own terminal)",
            Feature::ListenFds => "LISTEN_FDS",
            Feature::NotifySocket => "NOTIFY_SOCKET",
            Feature::AppLogs => "per-app log files",
            Feature::NotifyApp => "--sd-notify=app",
            Feature::KvmAccel => "--kvm-accel",
            Feature::CgroupWarmup => "RUKT_CGROUP_WARM_PID",
        }
    }
}

/// What `STAGE1 features` prints on stdout: one JSON object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage1Features {
    /// The interface versions the stage1 speaks (as `interface-version`).
    pub interface_versions: Vec<u32>,
    /// What it enforces. Names this version does not know (a newer stage1)
    /// are ignored when parsing, not an error; missing means nothing.
    #[serde(default, deserialize_with = "known_features")]
    pub enforces: BTreeSet<Feature>,
}

/// The features of a JSON list of names, skipping unknown ones.
fn known_features<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeSet<Feature>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    Ok(names.iter().filter_map(|n| Feature::from_name(n)).collect())
}

impl Stage1Features {
    /// What stage0 assumes of a stage1 that speaks only version 1 (it has
    /// no `features` entrypoint): everything a version 1 manifest can
    /// express, which such stage1s were trusted with; nothing new in 2.
    pub fn version1() -> Stage1Features {
        Stage1Features {
            interface_versions: vec![1],
            enforces: Feature::ALL
                .into_iter()
                .filter(|f| !Feature::NEW_IN_2.contains(f))
                .collect(),
        }
    }

    /// What may be used with a pod agreed at interface `version`: a pod of
    /// version 1 gets nothing new in 2, whatever the stage1 could do.
    pub fn at_version(mut self, version: u32) -> Stage1Features {
        if version < 2 {
            self.enforces.retain(|f| !Feature::NEW_IN_2.contains(f));
        }
        self
    }

    /// Whether the stage1 enforces `f`.
    pub fn enforces(&self, f: Feature) -> bool {
        self.enforces.contains(&f)
    }

    /// The JSON `features` prints (one line).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("stage1 features always serialise")
    }

    /// Parses the output of `features`.
    pub fn from_json(data: &[u8]) -> Result<Stage1Features, serde_json::Error> {
        serde_json::from_slice(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names() {
        for f in Feature::ALL {
            assert_eq!(
                serde_json::to_string(&f).unwrap(),
                format!("\"{}\"", f.name())
            );
            assert_eq!(Feature::from_name(f.name()), Some(f));
            assert!(!f.flag().is_empty());
        }
        assert_eq!(Feature::from_name("teleport"), None);
    }

    #[test]
    fn round_trips_through_json() {
        let f = Stage1Features {
            interface_versions: vec![1, 2],
            enforces: [Feature::Seccomp, Feature::ReadonlyRootfs, Feature::AppLogs].into(),
        };
        let json = f.to_json();
        assert_eq!(
            json,
            r#"{"interface_versions":[1,2],"enforces":["seccomp","readonly-rootfs","app-logs"]}"#
        );
        assert_eq!(Stage1Features::from_json(json.as_bytes()).unwrap(), f);
    }

    #[test]
    fn unknown_feature_names_are_ignored() {
        let json =
            br#"{"interface_versions":[1,2,3],"enforces":["seccomp","time-travel"],"extra":{}}"#;
        let f = Stage1Features::from_json(json).unwrap();
        assert_eq!(f.interface_versions, [1, 2, 3]);
        assert_eq!(f.enforces, [Feature::Seccomp].into());
        assert!(Stage1Features::from_json(br#"{"enforces":[]}"#).is_err());
        let bare = Stage1Features::from_json(br#"{"interface_versions":[2]}"#).unwrap();
        assert!(bare.enforces.is_empty());
    }

    #[test]
    fn version1_is_what_a_v1_manifest_can_express() {
        let v1 = Stage1Features::version1();
        assert_eq!(v1.interface_versions, [1]);
        assert!(v1.enforces(Feature::Seccomp));
        assert!(v1.enforces(Feature::Interactive));
        assert!(v1.enforces(Feature::MultipleApps));
        for f in [
            Feature::Networks,
            Feature::Ports,
            Feature::Dns,
            Feature::RecursiveVolumes,
            Feature::VolumePropagation,
            Feature::MutablePods,
            Feature::ListenFds,
            Feature::NotifySocket,
            Feature::AppLogs,
            Feature::NotifyApp,
            Feature::AppSecurity,
            Feature::Sysctls,
            Feature::Attach,
            Feature::CgroupParent,
            Feature::StopSignal,
            Feature::AppTty,
        ] {
            assert!(!v1.enforces(f), "{f:?}");
        }
        assert_eq!(
            v1.enforces.len(),
            Feature::ALL.len() - Feature::NEW_IN_2.len()
        );
    }
}
