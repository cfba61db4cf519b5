//! A CNI result (0.3.0 to 1.0.0: `interfaces`, `ips`, `routes`, `dns`) as
//! the contract's [`NetworkResult`]: the interface inside the pod, its
//! addresses, gateway and MAC, and the DNS settings the network offers;
//! and the routes it asks for (which a kvm guest must set itself).

use serde_json::Value;

use rukt_contract::{Dns, NetworkResult};

/// What `result` of network `name` gave interface `ifname`.
pub fn summarise(name: &str, ifname: &str, result: &Value) -> NetworkResult {
    let interfaces = result
        .get("interfaces")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let in_pod = |i: usize| {
        interfaces.get(i).is_some_and(|itf| {
            itf.get("sandbox")
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        })
    };
    let mac = interfaces
        .iter()
        .find(|i| i.get("name").and_then(Value::as_str) == Some(ifname))
        .and_then(|i| i.get("mac"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut ips = Vec::new();
    let mut gateway = None;
    for ip in result
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        // An address on a host-side interface is not the pod's.
        if let Some(i) = ip.get("interface").and_then(Value::as_u64)
            && !in_pod(i as usize)
        {
            continue;
        }
        let Some(a) = ip.get("address").and_then(Value::as_str) else {
            continue;
        };
        // The loopback plugin reports 127.0.0.1/8 on `lo`: not an address
        // anyone reaches the pod at.
        if crate::dns::is_loopback(crate::dns::address_of(a)) {
            continue;
        }
        ips.push(a.to_string());
        if gateway.is_none() {
            gateway = ip
                .get("gateway")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
    }
    let strings = |key: &str| -> Vec<String> {
        result
            .pointer(&format!("/dns/{key}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let mut search = strings("search");
    if let Some(d) = result.pointer("/dns/domain").and_then(Value::as_str) {
        search.insert(0, d.to_string());
    }
    NetworkResult {
        name: name.to_string(),
        interface: ifname.to_string(),
        ips,
        gateway,
        mac,
        dns: Dns {
            nameservers: strings("nameservers"),
            search,
            options: strings("options"),
        },
    }
}

/// A route a network result asks for inside the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination, `0.0.0.0/0` for the default route.
    pub dst: String,
    /// The next hop; `None` for the network's gateway (CNI's rule).
    pub gw: Option<String>,
}

/// The routes of `result` (`routes`), in order.
pub fn routes(result: &Value) -> Vec<Route> {
    result
        .get("routes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            Some(Route {
                dst: r.get("dst")?.as_str()?.to_string(),
                gw: r.get("gw").and_then(Value::as_str).map(str::to_string),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bridge_result() {
        let r = json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "rukt0", "mac": "aa:aa:aa:aa:aa:01"},
                {"name": "veth1", "mac": "aa:aa:aa:aa:aa:02"},
                {"name": "eth0", "mac": "aa:aa:aa:aa:aa:03", "sandbox": "/run/netns/rukt-x"}
            ],
            "ips": [{"interface": 2, "address": "172.16.28.5/24", "gateway": "172.16.28.1"}],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dns": {"nameservers": ["10.0.0.53"], "domain": "pods.test", "search": ["svc.test"]}
        });
        let s = summarise("default", "eth0", &r);
        assert_eq!(s.ips, ["172.16.28.5/24"]);
        assert_eq!(s.gateway.as_deref(), Some("172.16.28.1"));
        assert_eq!(s.mac.as_deref(), Some("aa:aa:aa:aa:aa:03"));
        assert_eq!(s.dns.nameservers, ["10.0.0.53"]);
        assert_eq!(s.dns.search, ["pods.test", "svc.test"]);
        assert_eq!(
            routes(&r),
            [Route {
                dst: "0.0.0.0/0".into(),
                gw: None
            }]
        );
        assert!(routes(&json!({})).is_empty());
    }

    #[test]
    fn host_side_addresses_and_missing_fields() {
        let r = json!({
            "interfaces": [{"name": "veth1"}, {"name": "eth0", "sandbox": "/x"}],
            "ips": [{"interface": 0, "address": "10.0.0.1/32"}, {"address": "10.0.0.2/32"}]
        });
        let s = summarise("n", "eth0", &r);
        assert_eq!(s.ips, ["10.0.0.2/32"]);
        assert_eq!(s.gateway, None);
        assert_eq!(summarise("n", "eth0", &json!({})).ips.len(), 0);
        let lo = json!({"interfaces": [{"name": "lo", "sandbox": "/x"}],
                        "ips": [{"interface": 0, "address": "127.0.0.1/8"}]});
        assert!(summarise("n", "lo", &lo).ips.is_empty());
    }
}
