//! Parsing of the network flags of `rukt run`/`prepare`: `--net` (rkt's
//! spelling, with CNI_ARGS: `--net=default`, `--net=a,b`,
//! `--net="mynet:IP=10.1.2.3;K=V"`), `--port` (rkt's named ports) and
//! `-p`/`--publish` (podman's), `--dns*` and `--hosts-entry`.

use std::net::IpAddr;

use rukt_contract::{DnsSettings, NetMode, NetworkRequest, PortMapping, Protocol};
use rukt_pods::{PodSpec, PortSpec};

use super::words::SpecError;

fn invalid(flag: &'static str, value: &str, reason: &'static str) -> SpecError {
    SpecError::Invalid {
        flag,
        value: value.to_string(),
        reason,
    }
}

/// Adds one `--net` value to `spec` (the flag may be given several times).
pub fn net(spec: &mut PodSpec, v: &str) -> Result<(), SpecError> {
    let bad = |reason| invalid("--net", v, reason);
    for part in v.split(',').filter(|p| !p.is_empty()) {
        let mode = match part {
            "none" => Some(NetMode::None),
            "host" => Some(NetMode::Host),
            _ => None,
        };
        if let Some(mode) = mode {
            if spec.net.is_some_and(|m| m != mode) || !spec.networks.is_empty() {
                return Err(bad("none and host cannot be combined with other networks"));
            }
            spec.net = Some(mode);
            continue;
        }
        if spec.net.is_some() {
            return Err(bad("none and host cannot be combined with other networks"));
        }
        let (name, args) = part.split_once(':').unwrap_or((part, ""));
        if !rukt_net::conf::valid_name(name) {
            return Err(bad("a network name is letters, digits, '_', '.' and '-'"));
        }
        let mut request = NetworkRequest {
            name: name.to_string(),
            args: Default::default(),
            interface: None,
        };
        for kv in args.split(';').filter(|a| !a.is_empty()) {
            let (k, val) = kv
                .split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .ok_or_else(|| bad("network arguments are K=V;K=V"))?;
            if k.contains(['=', ';', ',']) || val.contains(';') {
                return Err(bad("network arguments are K=V;K=V"));
            }
            request.args.insert(k.to_string(), val.to_string());
        }
        spec.networks.push(request);
    }
    Ok(())
}

/// A port number 1–65535.
fn port_number(flag: &'static str, v: &str, s: &str) -> Result<u16, SpecError> {
    match s.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(flag, v, "a port is a number from 1 to 65535")),
    }
}

/// An address, `[v6]` or v4.
fn address(flag: &'static str, v: &str, s: &str) -> Result<IpAddr, SpecError> {
    s.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .map_err(|_| invalid(flag, v, "not an IP address"))
}

/// Splits `[HOSTIP:]REST` where HOSTIP may be `[v6]`.
fn host_ip_prefix<'a>(
    flag: &'static str,
    v: &str,
    s: &'a str,
) -> Result<(Option<IpAddr>, &'a str), SpecError> {
    if s.starts_with('[') {
        let end = s
            .find("]:")
            .ok_or_else(|| invalid(flag, v, "expected [IPv6]:PORT"))?;
        return Ok((Some(address(flag, v, &s[..=end])?), &s[end + 2..]));
    }
    match s.split_once(':') {
        Some((ip, rest)) if rest.contains(':') || ip.contains('.') => {
            Ok((Some(address(flag, v, ip)?), rest))
        }
        _ => Ok((None, s)),
    }
}

/// rkt's `--port=NAME:[HOSTIP:]HOSTPORT`.
pub fn port(v: &str) -> Result<PortSpec, SpecError> {
    let (name, rest) = v
        .split_once(':')
        .ok_or_else(|| invalid("--port", v, "expected NAME:[HOSTIP:]HOSTPORT"))?;
    if name.is_empty() || !rukt_net::conf::valid_name(name) {
        return Err(invalid(
            "--port",
            v,
            "NAME is an exposed port's name, such as 80-tcp",
        ));
    }
    let (host_ip, host_port) = match rest.rsplit_once(':') {
        Some((ip, p)) => (Some(address("--port", v, ip)?), p),
        None => (None, rest),
    };
    Ok(PortSpec::Named {
        name: name.to_string(),
        host_ip,
        host_port: port_number("--port", v, host_port)?,
    })
}

/// podman's `-p [HOSTIP:]HOSTPORT:PODPORT[/tcp|udp]`.
pub fn publish(v: &str) -> Result<PortSpec, SpecError> {
    let usage = "expected [HOSTIP:]HOSTPORT:PODPORT[/tcp|udp]";
    let (ports, protocol) = match v.rsplit_once('/') {
        Some((p, "tcp")) => (p, Protocol::Tcp),
        Some((p, "udp")) => (p, Protocol::Udp),
        Some(_) => return Err(invalid("--publish", v, "the protocol is tcp or udp")),
        None => (v, Protocol::Tcp),
    };
    let (host_ip, rest) = host_ip_prefix("--publish", v, ports)?;
    let (host, pod) = rest
        .split_once(':')
        .ok_or_else(|| invalid("--publish", v, usage))?;
    Ok(PortSpec::Mapping(PortMapping {
        protocol,
        host_port: port_number("--publish", v, host)?,
        pod_port: port_number("--publish", v, pod)?,
        host_ip,
    }))
}

/// `--dns=IP[,IP]|host|none`.
pub fn dns(d: &mut DnsSettings, v: &str) -> Result<(), SpecError> {
    match v {
        "host" => d.host = true,
        "none" => d.none = true,
        _ => {
            for s in v.split(',').filter(|s| !s.is_empty()) {
                d.nameservers.push(address("--dns", v, s)?);
            }
        }
    }
    if (d.host as u8 + d.none as u8 + !d.nameservers.is_empty() as u8) > 1 {
        return Err(invalid(
            "--dns",
            v,
            "host, none and addresses exclude each other",
        ));
    }
    Ok(())
}

/// `--dns-search`, `--dns-opt`: comma-separated words.
pub fn words(flag: &'static str, v: &str) -> Result<Vec<String>, SpecError> {
    let out: Vec<String> = v
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if out.iter().any(|w| w.contains(char::is_whitespace)) || out.is_empty() {
        return Err(invalid(flag, v, "expected comma-separated words"));
    }
    Ok(out)
}

/// `--hosts-entry=IP=NAME|host`.
pub fn hosts_entry(d: &mut DnsSettings, v: &str) -> Result<(), SpecError> {
    if v == "host" {
        d.hosts_from_host = true;
        return Ok(());
    }
    let (ip, name) = v
        .split_once('=')
        .ok_or_else(|| invalid("--hosts-entry", v, "expected IP=NAME or host"))?;
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(invalid("--hosts-entry", v, "expected IP=NAME or host"));
    }
    d.hosts_entries
        .push((address("--hosts-entry", v, ip)?, name.to_string()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_values() {
        let mut s = PodSpec::default();
        net(&mut s, "default").unwrap();
        net(&mut s, "mynet:IP=10.1.2.3;K=V,other").unwrap();
        let names: Vec<_> = s.networks.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["default", "mynet", "other"]);
        assert_eq!(s.networks[1].args["IP"], "10.1.2.3");
        assert_eq!(s.networks[1].args["K"], "V");
        assert!(net(&mut s, "host").is_err());
        let mut h = PodSpec::default();
        net(&mut h, "host").unwrap();
        assert_eq!(h.net, Some(NetMode::Host));
        assert!(net(&mut h, "default").is_err());
        assert!(net(&mut PodSpec::default(), "../x").is_err());
        assert!(net(&mut PodSpec::default(), "n:IP").is_err());
    }

    #[test]
    fn ports() {
        let PortSpec::Mapping(m) = publish("8080:80").unwrap() else {
            panic!()
        };
        assert_eq!(
            (m.host_port, m.pod_port, m.protocol, m.host_ip),
            (8080, 80, Protocol::Tcp, None)
        );
        let PortSpec::Mapping(m) = publish("127.0.0.1:5353:53/udp").unwrap() else {
            panic!()
        };
        assert_eq!(m.host_ip, Some("127.0.0.1".parse().unwrap()));
        assert_eq!(m.protocol, Protocol::Udp);
        let PortSpec::Mapping(m) = publish("[::1]:8080:80").unwrap() else {
            panic!()
        };
        assert_eq!(m.host_ip, Some("::1".parse().unwrap()));
        for bad in [
            "8080",
            "0:80",
            "8080:80/sctp",
            "x:80",
            "1.2.3:8080:80",
            "8080:70000",
        ] {
            assert!(publish(bad).is_err(), "{bad}");
        }
        assert_eq!(
            port("80-tcp:10.0.0.1:8080").unwrap(),
            PortSpec::Named {
                name: "80-tcp".into(),
                host_ip: Some("10.0.0.1".parse().unwrap()),
                host_port: 8080
            }
        );
        assert!(port("8080").is_err() && port(":8080").is_err());
    }

    #[test]
    fn dns_and_hosts() {
        let mut d = DnsSettings::default();
        dns(&mut d, "10.0.0.2,10.0.0.3").unwrap();
        assert_eq!(d.nameservers.len(), 2);
        assert!(dns(&mut d, "host").is_err());
        assert!(dns(&mut DnsSettings::default(), "resolver").is_err());
        hosts_entry(&mut d, "10.0.0.9=db").unwrap();
        hosts_entry(&mut d, "host").unwrap();
        assert!(d.hosts_from_host && d.hosts_entries.len() == 1);
        assert!(hosts_entry(&mut d, "db").is_err());
        assert_eq!(
            words("--dns-opt", "ndots:1,edns0").unwrap(),
            ["ndots:1", "edns0"]
        );
        assert!(words("--dns-opt", "").is_err());
    }
}
