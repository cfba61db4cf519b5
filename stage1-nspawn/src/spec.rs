//! The OCI runtime configuration (`config.json`) libcontainer runs an app
//! from: the app's root, user, capabilities and seccomp filter, the pod's
//! shared namespaces (by path, so `enter` joins the same ones), its cgroup
//! below the pod's, a minimal `/dev`, masked and read-only `/proc` and
//! `/sys` paths, the pod's `/etc` files and its volumes.

use std::path::Path;

use rukt_contract::{App, PodManifest, SeccompProfile, Sharing, VolumeKind};
use serde_json::{Value, json};

use rukt_contract::isolation::CPU_PERIOD_US;

use crate::cgroups::{self, Layout};
use crate::podns::PodNamespaces;
use crate::seccomp;

use rukt_contract::isolation::{MASKED_PATHS, READONLY_PATHS};

/// Everything an app's configuration is made from.
pub struct AppContext<'a> {
    /// The pod.
    pub pod: &'a PodManifest,
    /// The app.
    pub app: &'a App,
    /// The pod directory, absolute.
    pub pod_dir: &'a Path,
    /// The supervisor's PID: the pod's shared namespaces are its.
    pub supervisor: u32,
    /// What the supervisor unshared.
    pub namespaces: PodNamespaces,
    /// `/etc` files to bind: `(host path, app path)`.
    pub etc_files: &'a [crate::etc::EtcFile],
    /// With `--pid=pod`: the pause process, whose PID namespace the apps
    /// join.
    pub pause: Option<i32>,
    /// Give the app a terminal.
    pub terminal: bool,
    /// The host's cgroup layout.
    pub layout: Layout,
    /// On cgroup v1, the app's `/sys/fs/cgroup` made beforehand
    /// ([`crate::cgview`]), if it could be.
    pub cgroup_tree: Option<&'a Path>,
}

/// Why an app's configuration cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The app's seccomp request is invalid.
    #[error("app {app}")]
    Seccomp {
        /// The app.
        app: String,
        /// The cause.
        #[source]
        source: seccomp::SeccompError,
    },
    /// The app's seccomp profile is not JSON.
    #[error("app {app}: its seccomp profile is not valid JSON")]
    Profile {
        /// The app.
        app: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A mount names a volume the pod does not have.
    #[error("app {app}: no volume {volume:?} in the pod")]
    Volume {
        /// The app.
        app: String,
        /// The volume.
        volume: String,
    },
}

/// The seccomp filter of `app` (OCI `linux.seccomp`). It is not part of
/// [`config`]: the supervisor compiles it once ([`crate::bpf`]) and the
/// app's last step before exec loads it.
/// `None`: the app runs without one (privileged, or an `unconfined`
/// profile).
pub fn seccomp_filter(app: &App) -> Result<Option<Value>, SpecError> {
    if app.security.privileged {
        return Ok(None);
    }
    match &app.security.seccomp_profile {
        Some(SeccompProfile::Unconfined) => Ok(None),
        Some(SeccompProfile::Oci(text)) => {
            serde_json::from_str(text)
                .map(Some)
                .map_err(|source| SpecError::Profile {
                    app: app.name.clone(),
                    source,
                })
        }
        None => seccomp::filter(app.seccomp.as_ref(), &app.capabilities)
            .map(Some)
            .map_err(|source| SpecError::Seccomp {
                app: app.name.clone(),
                source,
            }),
    }
}

/// The `config.json` of `ctx.app`.
pub fn config(ctx: &AppContext<'_>) -> Result<Value, SpecError> {
    let app = ctx.app;
    // A privileged app gets what the supervisor has (this host may lack
    // some: CAP_SYS_RESOURCE, say), as containerd and CRI-O give it.
    let own;
    let caps = if app.security.privileged {
        own = rukt_contract::isolation::bounding_capabilities();
        &own
    } else {
        &app.capabilities
    };
    let mut process = json!({
        "terminal": ctx.terminal,
        "user": { "uid": app.uid, "gid": app.gid, "additionalGids": app.supplementary_gids },
        "args": app.exec,
        "env": app.environment,
        "cwd": app.working_dir,
        "capabilities": {
            "bounding": caps, "effective": caps, "permitted": caps,
            "inheritable": [], "ambient": [],
        },
        "noNewPrivileges": true,
    });
    if app.security.allow_new_privileges {
        // Left out, not false: libcontainer takes any value as "set" and
        // would install the filter after the capabilities are gone.
        process
            .as_object_mut()
            .expect("an object")
            .remove("noNewPrivileges");
    }
    let security = &app.security;
    let (masked, readonly) = if security.privileged {
        (Vec::new(), Vec::new())
    } else {
        let own = |given: &Option<Vec<String>>, default: &[&str]| {
            given
                .clone()
                .unwrap_or_else(|| default.iter().map(|p| p.to_string()).collect())
        };
        (
            own(&security.masked_paths, &MASKED_PATHS),
            own(&security.readonly_paths, &READONLY_PATHS),
        )
    };
    let rootfs = ctx.pod_dir.join(rukt_contract::app_rootfs(&app.name));
    Ok(json!({
        "ociVersion": "1.0.2",
        "process": process,
        "root": { "path": rootfs, "readonly": app.readonly_rootfs },
        "mounts": mounts(ctx)?,
        "linux": {
            "namespaces": namespaces(ctx),
            "cgroupsPath": cgroups::app_path(&ctx.pod.uuid, &app.name),
            "resources": resources(ctx),
            "maskedPaths": masked,
            "readonlyPaths": readonly,
            "devices": if security.privileged { crate::devices::host() } else { Vec::new() },
        },
    }))
}

fn namespaces(ctx: &AppContext<'_>) -> Vec<Value> {
    let shared = |typ: &str, file: &str| json!({ "type": typ, "path": format!("/proc/{}/ns/{file}", ctx.supervisor) });
    let mut ns = vec![json!({ "type": "mount" }), json!({ "type": "cgroup" })];
    ns.push(shared("uts", "uts"));
    if ctx.namespaces.net {
        ns.push(shared("network", "net"));
    }
    match ctx.pod.namespaces.ipc {
        Sharing::Pod => ns.push(shared("ipc", "ipc")),
        Sharing::Private => ns.push(json!({ "type": "ipc" })),
        Sharing::Host => {}
    }
    match ctx.pod.namespaces.pid {
        Sharing::Private => ns.push(json!({ "type": "pid" })),
        Sharing::Pod => match ctx.pause {
            Some(pid) => ns.push(json!({ "type": "pid", "path": format!("/proc/{pid}/ns/pid") })),
            None => ns.push(json!({ "type": "pid" })),
        },
        Sharing::Host => {}
    }
    ns
}

fn mounts(ctx: &AppContext<'_>) -> Result<Vec<Value>, SpecError> {
    let mut m = vec![
        json!({ "destination": "/proc", "type": "proc", "source": "proc",
                "options": ["nosuid", "noexec", "nodev"] }),
        json!({ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] }),
        json!({ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] }),
        json!({ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] }),
        json!({ "destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev",
                            if ctx.app.security.privileged { "rw" } else { "ro" }] }),
    ];
    m.extend(cgroup_mounts(ctx));
    if ctx.pod.namespaces.ipc != Sharing::Host {
        m.push(
            json!({ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                       "options": ["nosuid", "noexec", "nodev"] }),
        );
    }
    for f in ctx.etc_files {
        let mut options = vec!["bind", "nosuid", "nodev", "noexec"];
        if f.read_only {
            options.push("ro");
        }
        m.push(
            json!({ "destination": f.target, "type": "bind", "source": f.source, "options": options }),
        );
    }
    for mount in &ctx.app.mounts {
        let volume = ctx
            .pod
            .volume(&mount.volume)
            .ok_or_else(|| SpecError::Volume {
                app: ctx.app.name.clone(),
                volume: mount.volume.clone(),
            })?;
        let source = match &volume.kind {
            VolumeKind::Host { source } => source.clone(),
            VolumeKind::Empty => ctx
                .pod_dir
                .join(rukt_contract::VOLUMES_DIR)
                .join(&volume.name),
        };
        // Recursive unless asked otherwise, as docker and podman bind.
        let bind = if volume.recursive == Some(false) {
            "bind"
        } else {
            "rbind"
        };
        let mut options = vec![bind, "nosuid", "nodev"];
        if volume.read_only {
            options.push("ro");
        }
        m.push(
            json!({ "destination": mount.target, "type": "bind", "source": source,
                       "options": options }),
        );
    }
    Ok(m)
}

/// `/sys/fs/cgroup`, read-only: cgroup v2's, or on v1 the app's own cgroup
/// in each hierarchy: the tree the supervisor made ([`crate::cgview`]),
/// bound whole, or without one each directory bound on a tmpfs (made
/// beforehand, [`cgroups::create_app_v1`]). Not libcontainer's own v1
/// mounts: it finds the cgroups to show by the init's PID in the namespace
/// it joined, looked up in the supervisor's `/proc`, where in the pod's PID
/// namespace that names another process (or none).
fn cgroup_mounts(ctx: &AppContext<'_>) -> Vec<Value> {
    if ctx.layout != Layout::V1 {
        return vec![
            json!({ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"] }),
        ];
    }
    let options = ["rbind", "nosuid", "noexec", "nodev", "ro"];
    if let Some(tree) = ctx.cgroup_tree {
        return vec![json!({ "destination": "/sys/fs/cgroup", "type": "bind",
                            "source": tree, "options": options })];
    }
    let mut m = vec![
        json!({ "destination": "/sys/fs/cgroup", "type": "tmpfs", "source": "tmpfs",
                             "options": ["nosuid", "noexec", "nodev", "mode=755"] }),
    ];
    for (name, source) in cgroups::app_v1_dirs(&ctx.pod.uuid, &ctx.app.name) {
        m.push(json!({
            "destination": Path::new("/sys/fs/cgroup").join(name),
            "type": "bind",
            "source": source,
            "options": options,
        }));
    }
    m
}

fn resources(ctx: &AppContext<'_>) -> Value {
    let r = &ctx.app.resources;
    let mut res = json!({ "devices": [{ "allow": ctx.app.security.privileged, "access": "rwm" }] });
    if let Some(limit) = r.memory {
        let mut memory = json!({ "limit": limit });
        if swap_accounting(ctx.layout) {
            // memory+swap = memory: no swapping beyond the limit.
            memory["swap"] = json!(limit);
        }
        res["memory"] = memory;
    }
    let mut cpu = serde_json::Map::new();
    if let Some(shares) = r.cpu_shares {
        cpu.insert("shares".into(), json!(shares));
    }
    if let Some(quota) = r.cpu_quota_us() {
        cpu.insert("quota".into(), json!(quota));
        cpu.insert("period".into(), json!(CPU_PERIOD_US));
    }
    if !cpu.is_empty() {
        res["cpu"] = Value::Object(cpu);
    }
    if let Some(pids) = r.pids {
        res["pids"] = json!({ "limit": pids });
    }
    res
}

fn swap_accounting(layout: Layout) -> bool {
    match layout {
        Layout::Unified => {
            Path::new("/sys/fs/cgroup/memory.swap.max").exists()
                || std::fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control")
                    .is_ok_and(|s| s.contains("memory"))
        }
        Layout::V1 => Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists(),
    }
}
