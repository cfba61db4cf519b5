//! The pod manifest (`pod` in the pod directory): everything stage1 needs
//! to run the pod, resolved by stage0 (image config defaults applied, user
//! names turned into ids, volumes checked). stage1 reads it and must not
//! need the image store.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Feature;
use crate::isolation::{KvmOptions, Namespaces, NetMode, Resources, Seccomp};
use crate::net::{DnsSettings, NetworkRequest, PortMapping};

/// A whole pod. Every field added after version 1 has a default and is left
/// out when it has it, so a manifest that uses nothing new is a version 1
/// manifest, byte for byte the shape a version 1 stage1 parses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodManifest {
    /// The interface version stage0 and stage1 agreed on for this pod.
    pub interface_version: u32,
    /// Version 2: bumped by stage0 each time it rewrites the manifest of a
    /// running pod (app add, rm), under [`crate::MANIFEST_LOCK`]; 0 for the
    /// manifest the pod was prepared with.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub revision: u64,
    /// The pod's UUID.
    pub uuid: String,
    /// Its hostname, if set (`--hostname`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The stage1 that runs it.
    pub stage1: Stage1Info,
    /// Its apps, in the order given.
    pub apps: Vec<App>,
    /// Pod-level volumes that apps mount.
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// The pod's network.
    #[serde(default)]
    pub net: NetMode,
    /// Version 2: the networks the pod joins, in order (results in
    /// [`crate::NET_INFO_FILE`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkRequest>,
    /// Version 2: where the CNI plugins of `networks` are looked up, in
    /// order (`CNI_PATH`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cni_path: Vec<PathBuf>,
    /// Version 2: host ports forwarded to the pod, through its first network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
    /// Version 2: the pod's resolver and hosts settings.
    #[serde(default, skip_serializing_if = "DnsSettings::is_empty")]
    pub dns: DnsSettings,
    /// Which namespaces the apps share.
    #[serde(default)]
    pub namespaces: Namespaces,
    /// Limits of the pod as a whole (its cgroup; for kvm, the VM's size).
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// Options of the kvm stage1.
    #[serde(default)]
    pub kvm: KvmOptions,
    /// Version 2: who tells systemd the pod is ready (`--sd-notify`).
    #[serde(default, skip_serializing_if = "crate::sdnotify::SdNotify::is_pod")]
    pub sd_notify: crate::sdnotify::SdNotify,
    /// Version 2: how the apps' log files rotate.
    #[serde(default, skip_serializing_if = "crate::logfmt::LogOptions::is_default")]
    pub logs: crate::logfmt::LogOptions,
    /// Version 2: namespaced sysctls set in the pod (`net.*`, `kernel.shm*`,
    /// `kernel.msg*`, `kernel.sem`, `fs.mqueue.*`; feature `sysctls`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sysctls: std::collections::BTreeMap<String, String>,
    /// Version 2: a mutable pod (`rukt app sandbox`, feature
    /// `mutable-pods`): it runs until it is stopped, with or without apps;
    /// an app's exit ends neither the pod nor the other apps.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mutable: bool,
    /// Version 2: the cgroup the pod's own (`<cgroup_parent>/rukt/<uuid>`)
    /// is created in, instead of the hierarchies' root or the systemd
    /// unit's (`--cgroup-parent`, CRI's `linux.cgroup_parent`; feature
    /// `cgroup-parent`): an absolute cgroupfs path such as
    /// `/kubepods/burstable/pod<uid>`, whose limits then bound the pod's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
}

/// Which stage1 runs the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stage1Info {
    /// `nspawn`, `kvm`, `fly`, or the file name for a path.
    pub flavor: String,
    /// The executable.
    pub path: PathBuf,
    /// Interface versions it declared.
    pub interface_versions: Vec<u32>,
}

/// One app of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct App {
    /// Unique within the pod: `[a-z0-9-]+`.
    pub name: String,
    /// The image it runs.
    pub image: ImageInfo,
    /// The command and its arguments (image entrypoint + cmd unless overridden).
    pub exec: Vec<String>,
    /// Working directory inside the app's root.
    pub working_dir: String,
    /// Numeric user id.
    pub uid: u32,
    /// Numeric group id.
    pub gid: u32,
    /// Supplementary group ids.
    #[serde(default)]
    pub supplementary_gids: Vec<u32>,
    /// Environment, `NAME=value`, in order.
    pub environment: Vec<String>,
    /// Whether stage1 must make the root filesystem read-only (after creating
    /// its own mount points in it; stage0 mounts it writable).
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// Volumes mounted into the app.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Limits of this app (its own cgroup below the pod's).
    #[serde(default, skip_serializing_if = "Resources::is_empty")]
    pub resources: Resources,
    /// The app's capabilities (bounding, permitted and effective sets).
    #[serde(default = "crate::isolation::default_capabilities")]
    pub capabilities: Vec<String>,
    /// A seccomp filter other than stage1's default; `None` is the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<Seccomp>,
    /// The app's `oom_score_adj`, -1000–1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i32>,
    /// Version 2: an absolute host path the app's log goes to instead of
    /// `logs/<app>.log` (CRI's `log_path`): same format, never rotated by
    /// the stage1 (whoever chose the path rotates it and asks for a reopen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,
    /// Version 2: the app's stdin is a pipe the engine keeps open for
    /// attach clients ([`crate::attach`]; CRI's `stdin`), not the pod's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin: bool,
    /// Version 2: its stdin closes when the first attach client leaves
    /// (CRI's `stdin_once`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stdin_once: bool,
    /// Version 2: the signal that asks the app to stop (`rukt stop`,
    /// `app-stop`) before SIGKILL, by name (`SIGQUIT`; [`crate::signal`]):
    /// `--stop-signal`, the image's `StopSignal`, CRI's `stop_signal`. None
    /// is SIGTERM. Feature `stop-signal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Version 2: the app's stdin, stdout and stderr are one
    /// pseudo-terminal, its controlling terminal (CRI's `tty`, `rukt app
    /// add --tty`; feature `app-tty`). The engine keeps the master: what the
    /// app writes is logged as its stdout and relayed to attach clients,
    /// who talk to it in frames ([`crate::attach`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    /// Version 2: what CRI's security context asks beyond the fields
    /// above (feature `app-security`).
    #[serde(default, skip_serializing_if = "AppSecurity::is_default")]
    pub security: AppSecurity,
}

/// Version 2: an app's security beyond rukt's own flags, as CRI's
/// `LinuxContainerSecurityContext` asks it. The default is the stage1's
/// secure defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSecurity {
    /// A privileged app: every capability (stage0 puts them in
    /// `capabilities`), no seccomp filter, `/proc` and `/sys` neither
    /// masked nor read-only, `/sys` writable, every device of the host.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub privileged: bool,
    /// Paths masked in the app instead of the stage1's list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_paths: Option<Vec<String>>,
    /// Paths made read-only in the app instead of the stage1's list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_paths: Option<Vec<String>>,
    /// `no_new_privs` is left off (setuid programs work); on by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_new_privileges: bool,
    /// A seccomp profile instead of the stage1's filter (and of
    /// [`App::seccomp`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompProfile>,
}

impl AppSecurity {
    /// Whether nothing is asked beyond the defaults.
    pub fn is_default(&self) -> bool {
        *self == AppSecurity::default()
    }

    /// Whether it asks what only an engine enforcing
    /// [`crate::Feature::AppSecurity`] does: privileged, its own masked or
    /// read-only paths, an OCI profile. Running without no_new_privs and
    /// without a seccomp filter are what every version 2 engine can give
    /// (one without a filter has none to drop).
    pub fn asks_enforcement(&self) -> bool {
        self.privileged
            || self.masked_paths.is_some()
            || self.readonly_paths.is_some()
            || matches!(self.seccomp_profile, Some(SeccompProfile::Oci(_)))
    }
}

/// A seccomp profile given whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeccompProfile {
    /// No filter at all.
    Unconfined,
    /// An OCI `linux.seccomp` object (CRI's Localhost profiles), as JSON text.
    Oci(String),
}

/// The image an app comes from (informational for stage1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageInfo {
    /// The name it was referenced by.
    pub name: String,
    /// Its image ID (config digest).
    pub id: String,
    /// Its manifest digest.
    pub manifest: String,
    /// Its layers' diff_ids, bottom first (they pin the store's layers).
    pub layers: Vec<String>,
}

/// A volume mounted into an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// The pod volume's name.
    pub volume: String,
    /// Absolute path inside the app's root.
    pub target: String,
}

/// A pod-level volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Its name, referenced by mounts.
    pub name: String,
    /// Where its contents come from.
    pub kind: VolumeKind,
    /// Mounted read-only into every app.
    #[serde(default)]
    pub read_only: bool,
    /// Version 2: whether a host volume's submounts come with it
    /// (`recursive=true`, a recursive bind) or only the source's own mount;
    /// `None` is the engine's default (fly: not recursive, as rkt; nspawn:
    /// recursive, as docker and podman).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<bool>,
    /// Version 2: how mounts below a host volume travel between the host and
    /// the pod (`propagation=`); `None` is the engine's safe default (a
    /// slave: the host's new mounts appear in the pod, nothing goes back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
}

/// Mount propagation of a host volume, as OCI and Kubernetes name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    /// Both ways (`rshared`, Kubernetes' Bidirectional): mounts the pod
    /// makes below the volume appear on the host at the source, and the
    /// host's in the pod.
    Shared,
    /// Host to pod only (`rslave`, Kubernetes' HostToContainer).
    Slave,
    /// Neither way (`rprivate`).
    Private,
}

impl Propagation {
    /// Parses `shared|slave|private`, also spelled `rshared|rslave|rprivate`.
    pub fn from_name(s: &str) -> Option<Propagation> {
        match s.strip_prefix('r').filter(|_| s != "r").unwrap_or(s) {
            "shared" => Some(Propagation::Shared),
            "slave" => Some(Propagation::Slave),
            "private" => Some(Propagation::Private),
            _ => None,
        }
    }
}

/// A volume's source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum VolumeKind {
    /// A host path, bind-mounted.
    Host {
        /// Absolute host path.
        source: PathBuf,
    },
    /// An empty directory created for the pod, `volumes/<name>`.
    Empty,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl PodManifest {
    /// Parses a manifest.
    pub fn from_json(data: &[u8]) -> Result<PodManifest, serde_json::Error> {
        serde_json::from_slice(data)
    }

    /// Serialises a manifest.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a pod manifest always serialises")
    }

    /// The app called `name`.
    pub fn app(&self, name: &str) -> Option<&App> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// The volume called `name`.
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.name == name)
    }

    /// What the manifest asks of its engine beyond the defaults (an
    /// engine's own network namespace and stage1's default isolation):
    /// stage0 checks these against the stage1's features, a stage1 may check
    /// them again. `--interactive` and `app-*` are not in the manifest.
    pub fn features_asked(&self) -> BTreeSet<Feature> {
        let mut asked = BTreeSet::new();
        let mut ask = |yes: bool, f: Feature| {
            if yes {
                asked.insert(f);
            }
        };
        let defaults = Namespaces::default();
        ask(self.hostname.is_some(), Feature::Hostname);
        ask(self.net == NetMode::Host, Feature::NetHost);
        ask(!self.networks.is_empty(), Feature::Networks);
        ask(!self.ports.is_empty(), Feature::Ports);
        ask(!self.dns.is_empty(), Feature::Dns);
        ask(
            self.namespaces.ipc != defaults.ipc,
            Feature::ipc(self.namespaces.ipc),
        );
        ask(
            self.namespaces.pid != defaults.pid,
            Feature::pid(self.namespaces.pid),
        );
        ask(!self.resources.is_empty(), Feature::Resources);
        ask(self.apps.len() > 1, Feature::MultipleApps);
        ask(self.mutable, Feature::MutablePods);
        ask(!self.sysctls.is_empty(), Feature::Sysctls);
        ask(self.cgroup_parent.is_some(), Feature::CgroupParent);
        ask(
            matches!(self.sd_notify, crate::sdnotify::SdNotify::App(_)),
            Feature::NotifyApp,
        );
        ask(
            self.kvm.accel != crate::KvmAccel::default(),
            Feature::KvmAccel,
        );
        for app in &self.apps {
            ask(app.security.asks_enforcement(), Feature::AppSecurity);
            ask(app.stdin, Feature::Attach);
            ask(app.stop_signal.is_some(), Feature::StopSignal);
            ask(app.tty, Feature::AppTty);
            ask(!app.resources.is_empty(), Feature::Resources);
            ask(app.oom_score_adj.is_some(), Feature::OomScoreAdj);
            ask(
                app.capabilities != crate::isolation::default_capabilities(),
                Feature::Capabilities,
            );
            ask(app.seccomp.is_some(), Feature::Seccomp);
            ask(app.readonly_rootfs, Feature::ReadonlyRootfs);
            let read_only = |m: &Mount| self.volume(&m.volume).is_some_and(|v| v.read_only);
            ask(app.mounts.iter().any(read_only), Feature::ReadonlyVolumes);
            let mounted = |f: fn(&Volume) -> bool| {
                app.mounts
                    .iter()
                    .any(|m| self.volume(&m.volume).is_some_and(f))
            };
            ask(
                mounted(|v| v.recursive.is_some()),
                Feature::RecursiveVolumes,
            );
            ask(
                mounted(|v| v.propagation.is_some()),
                Feature::VolumePropagation,
            );
        }
        asked
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest with every field set.
    fn sample() -> PodManifest {
        PodManifest {
            interface_version: crate::INTERFACE_VERSION,
            revision: 3,
            uuid: "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b".into(),
            hostname: Some("web".into()),
            stage1: Stage1Info {
                flavor: "fly".into(),
                path: "/usr/lib/rukt/rukt-stage1-fly".into(),
                interface_versions: vec![1],
            },
            apps: vec![App {
                name: "web".into(),
                image: ImageInfo {
                    name: "docker.io/library/busybox:latest".into(),
                    id: "sha256:aa".into(),
                    manifest: "sha256:bb".into(),
                    layers: vec!["sha256:cc".into()],
                },
                exec: vec!["/bin/sh".into(), "-c".into(), "echo hi".into()],
                working_dir: "/".into(),
                uid: 0,
                gid: 0,
                supplementary_gids: vec![10],
                environment: vec!["PATH=/bin".into()],
                readonly_rootfs: false,
                mounts: vec![Mount {
                    volume: "data".into(),
                    target: "/data".into(),
                }],
                resources: Resources {
                    memory: Some(64 << 20),
                    cpu_millis: Some(500),
                    cpu_shares: None,
                    pids: Some(100),
                },
                capabilities: vec!["CAP_KILL".into()],
                seccomp: Some(Seccomp {
                    mode: crate::SeccompMode::Remove,
                    errno: Some("ENOTSUP".into()),
                    syscalls: vec!["chmod".into()],
                }),
                oom_score_adj: Some(500),
                log_file: None,
                security: Default::default(),
                stdin: false,
                stdin_once: false,
                stop_signal: Some("SIGQUIT".into()),
                tty: false,
            }],
            volumes: vec![
                Volume {
                    name: "data".into(),
                    kind: VolumeKind::Host {
                        source: "/srv/data".into(),
                    },
                    read_only: true,
                    recursive: Some(true),
                    propagation: Some(Propagation::Slave),
                },
                Volume {
                    name: "scratch".into(),
                    kind: VolumeKind::Empty,
                    read_only: false,
                    recursive: None,
                    propagation: None,
                },
            ],
            net: NetMode::Host,
            networks: vec![NetworkRequest {
                name: "default".into(),
                args: [("IP".to_string(), "10.1.0.5".to_string())].into(),
                interface: Some("eth0".into()),
            }],
            cni_path: vec!["/usr/lib/cni".into()],
            ports: vec![PortMapping {
                protocol: crate::Protocol::Udp,
                host_port: 5353,
                pod_port: 53,
                host_ip: None,
            }],
            dns: DnsSettings {
                search: vec!["example.test".into()],
                ..DnsSettings::default()
            },
            namespaces: Namespaces {
                ipc: crate::Sharing::Private,
                pid: crate::Sharing::Pod,
            },
            resources: Resources {
                memory: Some(1 << 30),
                ..Resources::default()
            },
            kvm: KvmOptions {
                accel: crate::KvmAccel::Tcg,
            },
            logs: crate::logfmt::LogOptions {
                max_size: 1024,
                max_files: 2,
            },
            sd_notify: crate::sdnotify::SdNotify::App("web".into()),
            sysctls: Default::default(),
            mutable: false,
            cgroup_parent: Some("/kubepods/pod1".into()),
            created: "2026-11-22T00:00:00Z".into(),
        }
    }

    #[test]
    fn manifest_round_trips() {
        let m = sample();
        let back = PodManifest::from_json(&m.to_json()).unwrap();
        assert_eq!(back, m);
        assert_eq!(back.app("web").unwrap().uid, 0);
        assert!(back.volume("scratch").is_some());
    }

    const V1: &[u8] = br#"{"interface_version":1,"uuid":"u","stage1":{"flavor":"fly","path":"/x","interface_versions":[1]},
            "apps":[{"name":"a","image":{"name":"i","id":"sha256:a","manifest":"sha256:b","layers":[]},
            "exec":["/bin/true"],"working_dir":"/","uid":0,"gid":0,"environment":[]}],"created":"now"}"#;

    #[test]
    fn older_manifest_gets_defaults() {
        let m = PodManifest::from_json(V1).unwrap();
        assert_eq!(m.revision, 0);
        assert!(m.networks.is_empty());
        assert_eq!(m.net, NetMode::None);
        assert_eq!(m.namespaces, Namespaces::default());
        assert_eq!(
            m.apps[0].capabilities.len(),
            crate::DEFAULT_CAPABILITIES.len()
        );
        assert!(m.apps[0].seccomp.is_none());
    }

    #[test]
    fn a_version_1_manifest_serialises_without_version_2_keys() {
        let keys = |m: &PodManifest| -> Vec<String> {
            let v: serde_json::Value = serde_json::from_slice(&m.to_json()).unwrap();
            v.as_object().unwrap().keys().cloned().collect()
        };
        let m = PodManifest::from_json(V1).unwrap();
        let mut full = sample();
        full.interface_version = 1;
        full.revision = 0;
        full.networks.clear();
        full.cni_path.clear();
        full.ports.clear();
        full.dns = DnsSettings::default();
        let new_in_2 = ["revision", "networks", "cni_path", "ports", "dns"];
        for m in [m, full] {
            let keys = keys(&m);
            assert!(
                !keys.iter().any(|k| new_in_2.contains(&k.as_str())),
                "{keys:?}"
            );
        }
        assert!(keys(&sample()).iter().any(|k| k == "revision"));
    }

    #[test]
    fn features_asked_beyond_the_defaults() {
        assert!(
            PodManifest::from_json(V1)
                .unwrap()
                .features_asked()
                .is_empty()
        );
        let asked = sample().features_asked();
        let want = [
            Feature::Hostname,
            Feature::NetHost,
            Feature::Networks,
            Feature::Ports,
            Feature::Dns,
            Feature::IpcPrivate,
            Feature::PidPod,
            Feature::Resources,
            Feature::OomScoreAdj,
            Feature::Capabilities,
            Feature::Seccomp,
            Feature::ReadonlyVolumes,
            Feature::RecursiveVolumes,
            Feature::VolumePropagation,
            Feature::NotifyApp,
            Feature::KvmAccel,
            Feature::CgroupParent,
            Feature::StopSignal,
        ];
        assert_eq!(asked, want.into_iter().collect());
        let mut tty = sample();
        tty.apps[0].tty = true;
        assert!(tty.features_asked().contains(&Feature::AppTty));
    }
}
