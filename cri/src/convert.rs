//! CRI requests as the `pods` library's types: a `PodSandboxConfig`
//! becomes an app-less mutable [`PodSpec`] (network, hostname, DNS, ports,
//! namespaces, sysctls, pod limits), a `ContainerConfig` an [`AppSpec`]
//! (command, environment, user, limits, capabilities, the security
//! context, its own host mounts, stdin, tty, log file). What rukt cannot honour
//! is refused with INVALID_ARGUMENT naming it, never dropped.

use std::net::IpAddr;

use rukt_contract::{
    DnsSettings, NetMode, PortMapping, Propagation, Protocol, Resources, SeccompProfile, Sharing,
};
use rukt_images::reference::ImageRef;
use rukt_pods::{AppSpec, HostMount, PodSpec, PortSpec};
use rukt_proto::cri::v1 as cri;
use tonic::Status;

use crate::error::invalid;
use crate::record::MountRecord;

/// The sandbox's pod: no apps, mutable, on `stage1`.
pub fn pod_spec(config: &cri::PodSandboxConfig, stage1: String) -> Result<PodSpec, Status> {
    let linux = config.linux.clone().unwrap_or_default();
    let sc = linux.security_context.clone().unwrap_or_default();
    let ns = sc.namespace_options.unwrap_or_default();
    let host_net = ns.network == cri::NamespaceMode::Node as i32;
    let mut spec = PodSpec {
        stage1: Some(stage1),
        mutable: true,
        pid: Some(sharing("pid", ns.pid)?),
        ipc: Some(match sharing("ipc", ns.ipc)? {
            // An IPC namespace per container is not a CRI mode; POD is.
            Sharing::Private => Sharing::Pod,
            s => s,
        }),
        resources: resources(linux.resources.as_ref())?.0,
        sysctls: linux.sysctls.clone().into_iter().collect(),
        cgroup_parent: Some(linux.cgroup_parent.clone()).filter(|p| !p.is_empty()),
        ..PodSpec::default()
    };
    if host_net {
        spec.net = Some(NetMode::Host);
    } else if !config.hostname.is_empty() {
        spec.hostname = Some(config.hostname.clone());
    }
    if let Some(d) = &config.dns_config {
        spec.dns = dns(d)?;
    }
    for p in &config.port_mappings {
        if let Some(m) = port(p)? {
            spec.ports.push(PortSpec::Mapping(m));
        }
    }
    Ok(spec)
}

/// A CRI namespace mode as rukt's sharing.
fn sharing(which: &str, mode: i32) -> Result<Sharing, Status> {
    match cri::NamespaceMode::try_from(mode) {
        Ok(cri::NamespaceMode::Pod) => Ok(Sharing::Pod),
        Ok(cri::NamespaceMode::Container) => Ok(Sharing::Private),
        Ok(cri::NamespaceMode::Node) => Ok(Sharing::Host),
        Ok(cri::NamespaceMode::Target) => Err(invalid(format!(
            "{which} namespace mode TARGET (debug containers) is not supported by rukt yet"
        ))),
        Err(_) => Err(invalid(format!("unknown {which} namespace mode {mode}"))),
    }
}

fn dns(d: &cri::DnsConfig) -> Result<DnsSettings, Status> {
    let nameservers = d
        .servers
        .iter()
        .map(|s| {
            s.parse::<IpAddr>()
                .map_err(|_| invalid(format!("DNS server {s:?} is not an IP address")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DnsSettings {
        nameservers,
        search: d.searches.clone(),
        options: d.options.clone(),
        ..DnsSettings::default()
    })
}

/// A port mapping; one without a host port only documents a port.
fn port(p: &cri::PortMapping) -> Result<Option<PortMapping>, Status> {
    if p.host_port == 0 {
        return Ok(None);
    }
    let protocol = match cri::Protocol::try_from(p.protocol) {
        Ok(cri::Protocol::Tcp) => Protocol::Tcp,
        Ok(cri::Protocol::Udp) => Protocol::Udp,
        _ => return Err(invalid("SCTP port mappings are not supported by rukt")),
    };
    let num = |v: i32, what: &str| {
        u16::try_from(v)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| invalid(format!("{what} {v} is not a port number")))
    };
    let host_ip = match p.host_ip.as_str() {
        "" | "0.0.0.0" | "::" => None,
        ip => Some(
            ip.parse()
                .map_err(|_| invalid(format!("host_ip {ip:?} is not an IP address")))?,
        ),
    };
    Ok(Some(PortMapping {
        protocol,
        host_port: num(p.host_port, "host_port")?,
        pod_port: num(p.container_port, "container_port")?,
        host_ip,
    }))
}

/// Limits, and the OOM score adjustment (also for UpdateContainerResources).
pub fn resources(
    r: Option<&cri::LinuxContainerResources>,
) -> Result<(Resources, Option<i32>), Status> {
    let Some(r) = r else {
        return Ok((Resources::default(), None));
    };
    if !r.cpuset_cpus.is_empty() || !r.cpuset_mems.is_empty() {
        return Err(invalid(
            "cpuset_cpus/cpuset_mems are not supported by rukt yet",
        ));
    }
    if r.hugepage_limits.iter().any(|h| h.limit != 0) {
        return Err(invalid("hugepage limits are not supported by rukt yet"));
    }
    if !r.unified.is_empty() {
        return Err(invalid(
            "unified cgroup v2 settings are not supported by rukt yet",
        ));
    }
    let pos = |v: i64| u64::try_from(v).ok().filter(|n| *n > 0);
    let cpu_millis = match (pos(r.cpu_quota), pos(r.cpu_period)) {
        (Some(q), Some(p)) => Some((q * 1000).div_ceil(p)),
        (Some(q), None) => Some((q * 1000).div_ceil(rukt_contract::isolation::CPU_PERIOD_US)),
        _ => None,
    };
    let oom = (r.oom_score_adj != 0)
        .then(|| i32::try_from(r.oom_score_adj))
        .transpose()
        .map_err(|_| invalid("oom_score_adj out of range"))?;
    Ok((
        Resources {
            memory: pos(r.memory_limit_in_bytes),
            cpu_millis,
            // Kubelet's minimum (2) is the kernel's; 0 is unset.
            cpu_shares: pos(r.cpu_shares),
            pids: None,
        },
        oom,
    ))
}

/// What a container's security context asks, as app fields.
fn security(sc: &cri::LinuxContainerSecurityContext, app: &mut AppSpec) -> Result<(), Status> {
    app.security.privileged = sc.privileged;
    if let Some(ns) = &sc.namespace_options {
        sharing("pid", ns.pid)?;
        if !ns.target_id.is_empty() {
            return Err(invalid(
                "namespace target_id (debug containers) is not supported by rukt yet",
            ));
        }
    }
    if let Some(p) = &sc.apparmor
        && p.profile_type == cri::security_profile::ProfileType::Localhost as i32
    {
        return Err(invalid(format!(
            "apparmor Localhost profiles are not supported by rukt ({})",
            p.localhost_ref
        )));
    }
    // No profile at all is CRI's Unconfined (kubelet sends RuntimeDefault
    // when the pod or its seccompDefault asks for it).
    app.security.seccomp_profile = Some(SeccompProfile::Unconfined);
    if let Some(p) = &sc.seccomp {
        use cri::security_profile::ProfileType;
        app.security.seccomp_profile = match ProfileType::try_from(p.profile_type) {
            Ok(ProfileType::RuntimeDefault) | Err(_) => None,
            Ok(ProfileType::Unconfined) => Some(SeccompProfile::Unconfined),
            Ok(ProfileType::Localhost) => {
                let text = std::fs::read_to_string(&p.localhost_ref).map_err(|e| {
                    invalid(format!(
                        "cannot read the seccomp profile {}: {e}",
                        p.localhost_ref
                    ))
                })?;
                Some(SeccompProfile::Oci(text))
            }
        };
    }
    // Kubernetes' allowPrivilegeEscalation (default true) arrives as
    // no_new_privs = false, as kubelet asks of every runtime.
    app.security.allow_new_privileges = !sc.no_new_privs;
    if !sc.masked_paths.is_empty() {
        app.security.masked_paths = Some(sc.masked_paths.clone());
    }
    if !sc.readonly_paths.is_empty() {
        app.security.readonly_paths = Some(sc.readonly_paths.clone());
    }
    if let Some(uid) = &sc.run_as_user {
        app.user = Some(uid.value.to_string());
    } else if !sc.run_as_username.is_empty() {
        app.user = Some(sc.run_as_username.clone());
    }
    if let Some(gid) = &sc.run_as_group {
        if sc.run_as_user.is_none() && sc.run_as_username.is_empty() {
            return Err(invalid("run_as_group needs run_as_user or run_as_username"));
        }
        app.group = Some(gid.value.to_string());
    }
    // Added to the image's groups of the user: the Merge policy, CRI's
    // default (Strict would drop the image's).
    if sc.supplemental_groups_policy == cri::SupplementalGroupsPolicy::Strict as i32 {
        return Err(invalid(
            "supplemental_groups_policy Strict is not supported by rukt",
        ));
    }
    app.extra_gids = sc.supplemental_groups.iter().map(|g| *g as u32).collect();
    app.readonly_rootfs = sc.readonly_rootfs;
    if let Some(c) = &sc.capabilities {
        if !c.add_ambient_capabilities.is_empty() {
            return Err(invalid("ambient capabilities are not supported by rukt"));
        }
        capabilities(&c.add_capabilities, &c.drop_capabilities, app);
    }
    Ok(())
}

/// CRI adds to and drops from the default set; rukt's `caps_retain`
/// replaces it and `caps_remove` takes from it.
fn capabilities(add: &[String], drop: &[String], app: &mut AppSpec) {
    let norm = |c: &String| {
        let c = c.to_ascii_uppercase();
        if c == "ALL" || c.starts_with("CAP_") {
            c
        } else {
            format!("CAP_{c}")
        }
    };
    let add: Vec<String> = add.iter().map(norm).collect();
    let drop: Vec<String> = drop.iter().map(norm).collect();
    let all = |v: &[String]| v.iter().any(|c| c == "ALL");
    let base: Vec<String> = if all(&add) {
        // Every capability this host has (containerd's "all current").
        rukt_contract::isolation::bounding_capabilities()
    } else if all(&drop) {
        Vec::new()
    } else {
        rukt_contract::DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    if add.is_empty() && !all(&drop) {
        app.caps_remove = drop;
        return;
    }
    let mut set: Vec<String> = base
        .into_iter()
        .chain(add.into_iter().filter(|c| c != "ALL"))
        .filter(|c| !drop.contains(c))
        .collect();
    set.sort();
    set.dedup();
    app.caps_retain = Some(set);
}

/// A container as the pods library adds it: its app (with its own host
/// mounts) and the mounts as ContainerStatus echoes them.
pub struct Container {
    /// The app.
    pub app: AppSpec,
    /// Its mounts, for the record.
    pub mounts: Vec<MountRecord>,
}

/// CRI mounts as the app's own host mounts.
fn mounts(ms: &[cri::Mount]) -> Result<(Vec<HostMount>, Vec<MountRecord>), Status> {
    let (mut own, mut records) = (Vec::new(), Vec::new());
    for m in ms {
        let what = &m.container_path;
        if !m.container_path.starts_with('/') || !m.host_path.starts_with('/') {
            return Err(invalid(format!(
                "mount {what:?}: container_path and host_path must be absolute"
            )));
        }
        if !m.uid_mappings.is_empty() || !m.gid_mappings.is_empty() {
            return Err(invalid(format!(
                "mount {what:?}: id-mapped mounts are not supported by rukt"
            )));
        }
        if m.recursive_read_only {
            return Err(invalid(format!(
                "mount {what:?}: recursive read-only mounts are not supported by rukt yet"
            )));
        }
        if m.image.is_some() {
            return Err(invalid(format!(
                "mount {what:?}: image volumes are not supported by rukt yet"
            )));
        }
        let propagation = match cri::MountPropagation::try_from(m.propagation) {
            Ok(cri::MountPropagation::PropagationPrivate) => None,
            Ok(cri::MountPropagation::PropagationHostToContainer) => Some(Propagation::Slave),
            Ok(cri::MountPropagation::PropagationBidirectional) => Some(Propagation::Shared),
            Err(_) => {
                return Err(invalid(format!(
                    "mount {what:?}: unknown propagation {}",
                    m.propagation
                )));
            }
        };
        own.push(HostMount {
            source: m.host_path.clone().into(),
            target: m.container_path.clone(),
            read_only: m.readonly,
            recursive: None,
            propagation,
        });
        records.push(MountRecord {
            container_path: m.container_path.clone(),
            host_path: m.host_path.clone(),
            readonly: m.readonly,
            propagation: m.propagation,
        });
    }
    Ok((own, records))
}

/// The container's app. `image` is the stored image it runs, `app` its
/// name in the pod, `log_file` where its CRI log goes.
pub fn container(
    config: &cri::ContainerConfig,
    image: ImageRef,
    image_input: &str,
    app: &str,
    log_file: Option<std::path::PathBuf>,
) -> Result<Container, Status> {
    let (own, records) = mounts(&config.mounts)?;
    if !config.devices.is_empty() || !config.cdi_devices.is_empty() {
        return Err(invalid("devices are not supported by rukt-cri yet"));
    }
    let mut spec = AppSpec::new(image, image_input);
    spec.name = Some(app.to_string());
    match config.command.split_first() {
        Some((exec, rest)) => {
            spec.exec = Some(exec.clone());
            spec.args = Some(rest.iter().chain(&config.args).cloned().collect());
        }
        None if !config.args.is_empty() => spec.args = Some(config.args.clone()),
        None => {}
    }
    if !config.working_dir.is_empty() {
        spec.working_dir = Some(config.working_dir.clone());
    }
    spec.environment = config
        .envs
        .iter()
        .map(|kv| {
            String::from_utf8(kv.value.clone())
                .map(|v| (kv.key.clone(), v))
                .map_err(|_| invalid(format!("environment variable {} is not UTF-8", kv.key)))
        })
        .collect::<Result<_, _>>()?;
    let linux = config.linux.clone().unwrap_or_default();
    let (res, oom) = resources(linux.resources.as_ref())?;
    spec.resources = res;
    spec.oom_score_adj = oom;
    if let Some(sc) = &linux.security_context {
        security(sc, &mut spec)?;
    }
    spec.log_file = log_file;
    spec.host_mounts = own;
    spec.stdin = config.stdin;
    spec.stdin_once = config.stdin_once;
    spec.stop_signal = crate::signal::from_cri(config.stop_signal)?;
    // A terminal of its own (nspawn; kvm refuses it through `app-tty`).
    spec.tty = config.tty;
    Ok(Container {
        app: spec,
        mounts: records,
    })
}

/// The app name for a container: its CRI name made a valid app name, and
/// its attempt (unique in the pod, as kubelet's names are).
pub fn app_name(meta: &cri::ContainerMetadata) -> Result<String, Status> {
    let mut base: String = meta
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    base = base.trim_matches('-').to_string();
    if base.is_empty() {
        return Err(invalid("the container has no name"));
    }
    base.truncate(48);
    Ok(format!("{}-{}", base.trim_end_matches('-'), meta.attempt))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> ImageRef {
        ImageRef::parse("busybox").unwrap()
    }

    #[test]
    fn a_sandbox_config_becomes_a_mutable_pod() {
        let config = cri::PodSandboxConfig {
            hostname: "web-0".into(),
            dns_config: Some(cri::DnsConfig {
                servers: vec!["10.0.0.10".into()],
                searches: vec!["svc.cluster.local".into()],
                options: vec!["ndots:5".into()],
            }),
            port_mappings: vec![
                cri::PortMapping {
                    protocol: cri::Protocol::Tcp as i32,
                    container_port: 80,
                    host_port: 8080,
                    host_ip: "127.0.0.1".into(),
                },
                cri::PortMapping {
                    container_port: 9090,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let spec = pod_spec(&config, "nspawn".into()).unwrap();
        assert!(spec.mutable && spec.apps.is_empty());
        assert_eq!(spec.hostname.as_deref(), Some("web-0"));
        assert_eq!(
            spec.dns.nameservers,
            ["10.0.0.10".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            spec.ports.len(),
            1,
            "a port without a host port is documentation"
        );
        assert_eq!(spec.pid, Some(Sharing::Pod));
        assert_eq!(spec.net, None);
    }

    #[test]
    fn host_namespaces_and_refusals() {
        let mut config = cri::PodSandboxConfig::default();
        let mut linux = cri::LinuxPodSandboxConfig {
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: cri::NamespaceMode::Node as i32,
                    pid: cri::NamespaceMode::Container as i32,
                    ipc: cri::NamespaceMode::Node as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        config.linux = Some(linux.clone());
        config.hostname = "ignored".into();
        let spec = pod_spec(&config, "nspawn".into()).unwrap();
        assert_eq!(spec.net, Some(NetMode::Host));
        assert_eq!(spec.hostname, None);
        assert_eq!(
            (spec.pid, spec.ipc),
            (Some(Sharing::Private), Some(Sharing::Host))
        );
        linux
            .sysctls
            .insert("net.core.somaxconn".into(), "1024".into());
        config.linux = Some(linux);
        let spec = pod_spec(&config, "nspawn".into()).unwrap();
        assert_eq!(spec.sysctls["net.core.somaxconn"], "1024");
        config.port_mappings = vec![cri::PortMapping {
            protocol: cri::Protocol::Sctp as i32,
            container_port: 1,
            host_port: 1,
            host_ip: String::new(),
        }];
        let e = pod_spec(&config, "nspawn".into()).unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().contains("SCTP"), "{}", e.message());
    }

    #[test]
    fn a_container_config_becomes_an_app() {
        let config = cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: "Web_Server".into(),
                attempt: 2,
            }),
            command: vec!["/bin/sh".into(), "-c".into()],
            args: vec!["echo hi".into()],
            envs: vec![cri::KeyValue {
                key: "A".into(),
                value: b"b".to_vec(),
            }],
            linux: Some(cri::LinuxContainerConfig {
                resources: Some(cri::LinuxContainerResources {
                    cpu_period: 100_000,
                    cpu_quota: 50_000,
                    memory_limit_in_bytes: 64 << 20,
                    oom_score_adj: 500,
                    ..Default::default()
                }),
                security_context: Some(cri::LinuxContainerSecurityContext {
                    run_as_user: Some(cri::Int64Value { value: 1000 }),
                    readonly_rootfs: true,
                    capabilities: Some(cri::Capability {
                        add_capabilities: vec!["NET_ADMIN".into()],
                        drop_capabilities: vec!["CAP_CHOWN".into()],
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        };
        let name = app_name(config.metadata.as_ref().unwrap()).unwrap();
        assert_eq!(name, "web-server-2");
        let app = container(&config, image(), "busybox", &name, Some("/l/x.log".into()))
            .unwrap()
            .app;
        assert_eq!(app.exec.as_deref(), Some("/bin/sh"));
        assert_eq!(app.args, Some(vec!["-c".into(), "echo hi".into()]));
        assert_eq!(app.environment, [("A".into(), "b".into())]);
        assert_eq!(app.resources.cpu_millis, Some(500));
        assert_eq!(app.resources.memory, Some(64 << 20));
        assert_eq!(app.oom_score_adj, Some(500));
        assert_eq!(app.user.as_deref(), Some("1000"));
        assert!(app.readonly_rootfs);
        let caps = app.caps_retain.unwrap();
        assert!(caps.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!caps.contains(&"CAP_CHOWN".to_string()));
        assert!(caps.contains(&"CAP_KILL".to_string()));
        assert_eq!(
            app.log_file.as_deref(),
            Some(std::path::Path::new("/l/x.log"))
        );
    }

    #[test]
    fn args_mounts_privileges_and_what_rukt_cannot_do() {
        let config = cri::ContainerConfig {
            args: vec!["x".into()],
            ..Default::default()
        };
        let app = container(&config, image(), "busybox", "a-0", None)
            .unwrap()
            .app;
        assert_eq!((app.exec, app.args), (None, Some(vec!["x".into()])));
        let mut app = AppSpec::new(image(), "busybox");
        capabilities(&[], &["ALL".into()], &mut app);
        assert_eq!(app.caps_retain, Some(vec![]));
        let config = cri::ContainerConfig {
            mounts: vec![
                cri::Mount {
                    container_path: "/data".into(),
                    host_path: "/srv".into(),
                    readonly: true,
                    propagation: cri::MountPropagation::PropagationHostToContainer as i32,
                    ..Default::default()
                },
                cri::Mount {
                    container_path: "/etc/hosts".into(),
                    host_path: "/var/lib/kubelet/pods/x/etc-hosts".into(),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let c = container(&config, image(), "busybox", "a-0", None).unwrap();
        let own = &c.app.host_mounts;
        assert_eq!(own[0].target, "/data");
        assert_eq!(own[1].target, "/etc/hosts");
        assert!(own[0].read_only && !own[1].read_only);
        assert_eq!(own[0].propagation, Some(Propagation::Slave));
        assert_eq!(own[1].propagation, None);
        assert_eq!(c.mounts[1].host_path, "/var/lib/kubelet/pods/x/etc-hosts");
        let config = cri::ContainerConfig {
            mounts: vec![cri::Mount {
                container_path: "data".into(),
                host_path: "/srv".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = container(&config, image(), "busybox", "a-0", None)
            .err()
            .unwrap();
        assert!(e.message().contains("absolute"), "{}", e.message());
        let config = cri::ContainerConfig {
            linux: Some(cri::LinuxContainerConfig {
                security_context: Some(cri::LinuxContainerSecurityContext {
                    privileged: true,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let app = container(&config, image(), "busybox", "a-0", None)
            .unwrap()
            .app;
        assert!(app.security.privileged);
        assert!(app.security.allow_new_privileges, "no_new_privs is false");
        let config = cri::ContainerConfig {
            tty: true,
            ..Default::default()
        };
        let app = container(&config, image(), "busybox", "a-0", None).unwrap();
        assert!(app.app.tty);
        assert!(app_name(&cri::ContainerMetadata::default()).is_err());
    }
}
