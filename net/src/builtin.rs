//! The two networks every rukt host has without configuration, as rkt had:
//! `default` (a bridge `rukt0` with the gateway and IP masquerade on
//! 172.16.28.0/24, so pods reach each other, the host and beyond) and
//! `default-restricted` (point-to-point links on 172.31.0.0/16, no default
//! route and no masquerade: pods reach the host side only). A file named
//! for either in `net.d` replaces it. Their IPAM leases live in the store
//! (`<store>/net/ipam`), so a store's pods never share leases with another
//! CNI user's.

use std::path::Path;

use serde_json::json;

use crate::conf::NetConf;

/// The name of the default network.
pub const DEFAULT: &str = "default";
/// The name of the host-only network.
pub const DEFAULT_RESTRICTED: &str = "default-restricted";
/// The default network's subnet.
pub const DEFAULT_SUBNET: &str = "172.16.28.0/24";
/// The host-only network's subnet.
pub const RESTRICTED_SUBNET: &str = "172.31.0.0/16";
/// The default network's bridge on the host.
pub const BRIDGE: &str = "rukt0";

/// The built-in network `name`, its leases kept under `store_net_dir`
/// (`<store>/net`); `None` for any other name.
pub fn builtin(name: &str, store_net_dir: &Path) -> Option<NetConf> {
    let data_dir = store_net_dir.join("ipam").display().to_string();
    let list = match name {
        DEFAULT => json!({
            "cniVersion": "1.0.0",
            "name": DEFAULT,
            "plugins": [{
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": true,
                "isDefaultGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": DEFAULT_SUBNET }]],
                    "dataDir": data_dir,
                },
            }],
        }),
        DEFAULT_RESTRICTED => json!({
            "cniVersion": "1.0.0",
            "name": DEFAULT_RESTRICTED,
            "plugins": [{
                "type": "ptp",
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": RESTRICTED_SUBNET }]],
                    "dataDir": data_dir,
                },
            }],
        }),
        _ => return None,
    };
    let data = serde_json::to_vec(&list).expect("a literal serialises");
    Some(NetConf::parse(&data, Path::new(name)).expect("the built-in networks are valid"))
}

/// The plugin that publishes ports, appended to a pod's first network when
/// it has ports and its list has no `portMappings` plugin of its own.
/// `snat` makes 127.0.0.1 and a pod's own published port work
/// (`docs/networking.md` on `route_localnet`).
pub fn portmap_plugin() -> serde_json::Value {
    json!({ "type": "portmap", "snat": true, "capabilities": { "portMappings": true } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_parse_and_keep_leases_in_the_store() {
        let dir = Path::new("/var/lib/rukt/net");
        let d = builtin(DEFAULT, dir).unwrap();
        assert_eq!(d.executables(), ["bridge", "host-local"]);
        assert_eq!(
            d.plugins()[0].pointer("/ipam/dataDir").unwrap(),
            "/var/lib/rukt/net/ipam"
        );
        let r = builtin(DEFAULT_RESTRICTED, dir).unwrap();
        assert_eq!(r.executables(), ["ptp", "host-local"]);
        assert!(r.plugins()[0].pointer("/ipam/routes").is_none());
        assert!(builtin("mynet", dir).is_none());
    }
}
