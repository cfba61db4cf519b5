//! What a front-end asks for when it makes a pod: typed, checked values, no
//! argv and nothing only a command line has (progress bars, UUID files, the
//! pull policy, which belongs to the [`Fetcher`](rukt_images::fetch::Fetcher)
//! the front-end builds). `rukt run`'s rkt-style words are parsed into this
//! by the CLI (`stage0/src/cli/words.rs`); the CRI service will build it from
//! its requests.

use std::net::IpAddr;
use std::path::PathBuf;

use rukt_contract::{
    DnsSettings, KvmAccel, NetMode, NetworkRequest, PortMapping, Resources, Seccomp, Sharing,
};
use rukt_images::reference::ImageRef;

/// A pod-level volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSpec {
    /// Its name.
    pub name: String,
    /// `Some(path)` for a host directory, `None` for an empty volume.
    pub source: Option<PathBuf>,
    /// Mounted read-only into every app.
    pub read_only: bool,
    /// Whether a host volume's submounts come with it; `None` for the
    /// engine's default.
    pub recursive: Option<bool>,
    /// Mount propagation of a host volume; `None` for the engine's default.
    pub propagation: Option<rukt_contract::Propagation>,
}

/// A host path bound into one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMount {
    /// The host path (it must exist).
    pub source: PathBuf,
    /// Where it appears in the app (absolute).
    pub target: String,
    /// Read-only.
    pub read_only: bool,
    /// Whether its submounts come with it; `None`: the engine's default.
    pub recursive: Option<bool>,
    /// Its propagation; `None`: the engine's default.
    pub propagation: Option<rukt_contract::Propagation>,
}

/// One app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    /// The image.
    pub image: ImageRef,
    /// The image as the user wrote it, for messages.
    pub image_input: String,
    /// The app's name; derived from the image when `None`.
    pub name: Option<String>,
    /// The executable, replacing the image's entrypoint.
    pub exec: Option<String>,
    /// Arguments; `None` keeps the image's.
    pub args: Option<Vec<String>>,
    /// Working directory inside the app's root.
    pub working_dir: Option<String>,
    /// User, by name or number, resolved against the image.
    pub user: Option<String>,
    /// Group, by name or number.
    pub group: Option<String>,
    /// Environment of this app, in order, over the pod's.
    pub environment: Vec<(String, String)>,
    /// Read-only root filesystem.
    pub readonly_rootfs: bool,
    /// Volume mounts: (volume name, absolute target).
    pub mounts: Vec<(String, String)>,
    /// Limits of this app.
    pub resources: Resources,
    /// Capabilities replacing the default set.
    pub caps_retain: Option<Vec<String>>,
    /// Capabilities taken away.
    pub caps_remove: Vec<String>,
    /// A seccomp filter other than the engine's default.
    pub seccomp: Option<Seccomp>,
    /// The app's OOM score adjustment.
    pub oom_score_adj: Option<i32>,
    /// Its log goes to this host file (absolute) instead of the pod's
    /// `logs/<app>.log`, never rotated by rukt (CRI's `log_path`).
    pub log_file: Option<std::path::PathBuf>,
    /// What CRI's security context asks beyond the flags above.
    pub security: rukt_contract::AppSecurity,
    /// Host paths bound into this app only (CRI's container mounts): each
    /// becomes a host volume of the pod named `<app>.mount<N>`.
    pub host_mounts: Vec<HostMount>,
    /// Groups added to those the image gives the user (CRI's
    /// `supplemental_groups`).
    pub extra_gids: Vec<u32>,
    /// A stdin of its own, kept open for attach (CRI's `stdin`).
    pub stdin: bool,
    /// Its stdin closes when the first attach client leaves.
    pub stdin_once: bool,
    /// The signal that asks it to stop (`--stop-signal`, CRI's
    /// `stop_signal`), in any spelling [`rukt_contract::signal::parse`]
    /// takes; else the image's `StopSignal`, else SIGTERM.
    pub stop_signal: Option<String>,
    /// Its stdio is a terminal of its own (`--tty`, CRI's `tty`).
    pub tty: bool,
}

impl AppSpec {
    /// An app running `image` with the image's defaults.
    pub fn new(image: ImageRef, image_input: impl Into<String>) -> AppSpec {
        AppSpec {
            image,
            image_input: image_input.into(),
            name: None,
            exec: None,
            args: None,
            working_dir: None,
            user: None,
            group: None,
            environment: Vec::new(),
            readonly_rootfs: false,
            mounts: Vec::new(),
            resources: Resources::default(),
            caps_retain: None,
            caps_remove: Vec::new(),
            seccomp: None,
            oom_score_adj: None,
            log_file: None,
            security: Default::default(),
            host_mounts: Vec::new(),
            extra_gids: Vec::new(),
            stdin: false,
            stdin_once: false,
            stop_signal: None,
            tty: false,
        }
    }
}

/// A host port to forward to the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSpec {
    /// rkt's `--port=NAME:[HOSTIP:]HOSTPORT`: NAME is a port an image
    /// exposes, `80/tcp` named `80-tcp`.
    Named {
        /// The exposed port's name.
        name: String,
        /// The host address, if only one.
        host_ip: Option<IpAddr>,
        /// The host port.
        host_port: u16,
    },
    /// `-p [HOSTIP:]HOSTPORT:PODPORT[/PROTO]`.
    Mapping(PortMapping),
}

/// A whole pod. `None` and empty fields take the engine's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSpec {
    /// Apps, in order.
    pub apps: Vec<AppSpec>,
    /// Volumes apps may mount.
    pub volumes: Vec<VolumeSpec>,
    /// The pod's hostname.
    pub hostname: Option<String>,
    /// The stage1: a flavor (`nspawn`, `kvm`, `fly`) or a path; `None` is the default.
    pub stage1: Option<String>,
    /// Environment of every app, in order (lowest precedence first).
    pub environment: Vec<(String, String)>,
    /// The network mode: `host`, or `none` (a namespace of the pod's own,
    /// with `networks` attached, loopback only without); `None` with no
    /// `networks` takes the engine's default (`default` where it runs CNI
    /// networks).
    pub net: Option<NetMode>,
    /// Networks the pod joins, in order (`--net=NAME[:ARGS],...`).
    pub networks: Vec<NetworkRequest>,
    /// Host ports forwarded to the pod.
    pub ports: Vec<PortSpec>,
    /// Resolver and hosts settings.
    pub dns: DnsSettings,
    /// IPC namespace sharing.
    pub ipc: Option<Sharing>,
    /// PID namespace sharing.
    pub pid: Option<Sharing>,
    /// Limits of the whole pod.
    pub resources: Resources,
    /// The kvm engine's accelerator.
    pub kvm_accel: Option<KvmAccel>,
    /// The pod will run on the caller's terminal (`rukt run --interactive`),
    /// so its engine must be able to give it one; checked when preparing.
    pub interactive: bool,
    /// Who tells systemd the pod is ready; `App("")` is the first app.
    pub sd_notify: rukt_contract::sdnotify::SdNotify,
    /// How the apps' log files rotate.
    pub logs: rukt_contract::logfmt::LogOptions,
    /// A mutable pod (`rukt app sandbox`): it runs until stopped, apps are
    /// added and removed while it runs, and an app's exit ends nothing else.
    pub mutable: bool,
    /// Namespaced sysctls set in the pod (CRI's `linux.sysctls`).
    pub sysctls: std::collections::BTreeMap<String, String>,
    /// The cgroup the pod's cgroup is made in (`--cgroup-parent`, CRI's
    /// `linux.cgroup_parent`): an absolute cgroupfs path.
    pub cgroup_parent: Option<String>,
}
