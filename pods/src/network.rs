//! A pod's networks as stage0 settles them before the pod exists: the
//! engine's default when the user chose none (`default` for an engine that
//! runs CNI networks), each named network's configuration list found in the
//! catalog with its plugins checked, a `portmap` appended to the first
//! network when ports are published, rkt's named ports (`--port=80-tcp:8080`)
//! resolved against the images' exposed ports, and the host ports reserved.
//! Everything a user can get wrong fails here, before anything is created.

use std::collections::HashSet;
use std::net::IpAddr;

use oci_spec::image::ImageConfiguration;
use rukt_contract::{Feature, NetMode, NetworkRequest, PortMapping, Protocol, STORE_NET_DIR};
use rukt_images::store::{ImageRecord, Store};
use rukt_net::{Catalog, NetConf, builtin};

use crate::prepare::{PrepareError, invalid};
use crate::spec::{PodSpec, PortSpec};
use crate::stage1::Stage1;

/// The networking half of a manifest, and the lists to put in the pod.
#[derive(Debug)]
pub(crate) struct Settled {
    /// `net`.
    pub net: NetMode,
    /// `networks`.
    pub networks: Vec<NetworkRequest>,
    /// Each network's list, in the same order.
    pub confs: Vec<NetConf>,
    /// `ports`.
    pub ports: Vec<PortMapping>,
}

/// Settles `spec`'s networks for `stage1`.
pub(crate) fn settle(
    spec: &PodSpec,
    stage1: &Stage1,
    catalog: &Catalog,
    store: &Store,
    records: &[ImageRecord],
) -> Result<Settled, PrepareError> {
    let (net, networks) = match (spec.net, spec.networks.is_empty()) {
        (Some(mode), _) => (mode, spec.networks.clone()),
        (None, false) => (NetMode::None, spec.networks.clone()),
        (None, true) if stage1.enforces(Feature::Networks) => (
            NetMode::None,
            vec![NetworkRequest {
                name: builtin::DEFAULT.into(),
                args: Default::default(),
                interface: None,
            }],
        ),
        (None, true) => (stage1.default_net(), Vec::new()),
    };
    if net == NetMode::Host && !networks.is_empty() {
        return Err(invalid("--net=host cannot be combined with other networks"));
    }
    if !spec.ports.is_empty() && networks.is_empty() {
        return Err(invalid(match net {
            NetMode::Host => "--port: with --net=host the apps bind host ports themselves",
            NetMode::None => {
                "--port needs a network (--net=default or a named one), not --net=none"
            }
        }));
    }
    let ports = resolve_ports(&spec.ports, store, records)?;
    let store_net = store.root().join(STORE_NET_DIR);
    let mut seen = HashSet::new();
    let mut confs = Vec::new();
    for (i, req) in networks.iter().enumerate() {
        if !seen.insert(req.name.as_str()) {
            return Err(invalid(format!("network {} is given twice", req.name)));
        }
        let mut conf = catalog
            .resolve(&req.name, &store_net)
            .map_err(|e| invalid(e.to_string()))?;
        if i == 0 && !ports.is_empty() && !conf.has_capability("portMappings") {
            conf.push_plugin(builtin::portmap_plugin());
        }
        catalog
            .check_plugins(&conf)
            .map_err(|e| invalid(e.to_string()))?;
        confs.push(conf);
    }
    Ok(Settled {
        net,
        networks,
        confs,
        ports,
    })
}

/// Why a pod's networks cannot be checked, or did not pass.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Only a running pod has networks attached.
    #[error("pod {uuid} is {state}, not running")]
    NotRunning {
        /// The pod.
        uuid: crate::PodUuid,
        /// Its state.
        state: crate::State,
    },
    /// Its manifest cannot be read.
    #[error(transparent)]
    Pod(#[from] crate::PodError),
    /// A plugin said no.
    #[error(transparent)]
    Net(#[from] rukt_net::NetError),
}

/// `rukt status --check-network`: CNI CHECK of every network of a running
/// pod, from the caller's network namespace (the host's).
pub fn check_network(pod: &crate::Pod) -> Result<(), CheckError> {
    let state = pod.state();
    if state != crate::State::Running {
        return Err(CheckError::NotRunning {
            uuid: pod.uuid,
            state,
        });
    }
    let manifest = pod.manifest()?;
    rukt_net::pod::check(&pod.path, &manifest)?;
    Ok(())
}

/// Whether pod `uuid` may still publish the ports it reserved: it exists
/// and has not exited (prepared, preparing or running).
pub(crate) fn holds_ports(pods: &crate::Pods, uuid: &str) -> bool {
    use crate::state::State;
    let Ok(id) = uuid.parse::<crate::PodUuid>() else {
        return false;
    };
    pods.refind(id).is_some_and(|p| {
        matches!(
            p.state(),
            State::Embryo | State::Preparing | State::Prepared | State::Running
        )
    })
}

/// `--port`s as mappings; a named port must be one an image exposes.
fn resolve_ports(
    specs: &[PortSpec],
    store: &Store,
    records: &[ImageRecord],
) -> Result<Vec<PortMapping>, PrepareError> {
    let mut exposed: Option<Vec<String>> = None;
    let mut out = Vec::new();
    for p in specs {
        match p {
            PortSpec::Mapping(m) => out.push(m.clone()),
            PortSpec::Named {
                name,
                host_ip,
                host_port,
            } => {
                let names = match &exposed {
                    Some(e) => e,
                    None => exposed.insert(exposed_ports(store, records)?),
                };
                let m = named_port(name, names, *host_ip, *host_port).ok_or_else(|| {
                    invalid(format!(
                        "--port={name}: no image exposes a port of that name (exposed: {})",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    ))
                })?;
                out.push(m);
            }
        }
    }
    Ok(out)
}

/// rkt's name of an exposed port: `80/tcp` is `80-tcp`.
fn port_name(exposed: &str) -> String {
    let (port, proto) = exposed.split_once('/').unwrap_or((exposed, "tcp"));
    format!("{port}-{}", proto.to_ascii_lowercase())
}

fn named_port(
    name: &str,
    exposed: &[String],
    host_ip: Option<IpAddr>,
    host_port: u16,
) -> Option<PortMapping> {
    let e = exposed.iter().find(|e| port_name(e) == name)?;
    let (port, proto) = e.split_once('/').unwrap_or((e, "tcp"));
    Some(PortMapping {
        protocol: if proto.eq_ignore_ascii_case("udp") {
            Protocol::Udp
        } else {
            Protocol::Tcp
        },
        host_port,
        pod_port: port.parse().ok()?,
        host_ip,
    })
}

/// Every port the pod's images expose (`80/tcp`), in image order.
fn exposed_ports(store: &Store, records: &[ImageRecord]) -> Result<Vec<String>, PrepareError> {
    let mut out = Vec::new();
    for rec in records {
        let config: ImageConfiguration = serde_json::from_slice(&store.read_blob(&rec.id)?)
            .map_err(|e| {
                invalid(format!(
                    "{}: the stored image config is corrupt: {e}",
                    rec.name
                ))
            })?;
        let ports = config
            .config()
            .as_ref()
            .and_then(|c| c.exposed_ports().clone())
            .unwrap_or_default();
        out.extend(ports);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rkt_port_names() {
        assert_eq!(port_name("80/tcp"), "80-tcp");
        assert_eq!(port_name("53/UDP"), "53-udp");
        let exposed = vec!["80/tcp".to_string(), "53/udp".to_string()];
        let m = named_port("53-udp", &exposed, None, 5353).unwrap();
        assert_eq!(
            (m.protocol, m.pod_port, m.host_port),
            (Protocol::Udp, 53, 5353)
        );
        assert!(named_port("81-tcp", &exposed, None, 1).is_none());
    }
}
