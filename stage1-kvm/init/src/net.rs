//! The VM's network: loopback up always; for a pod with networks, the
//! network modules loaded (`virtio_net` and its dependencies; the cloud
//! kernel has no `ip=` autoconfiguration) and each NIC, found by the MAC
//! the host gave it (its pod network's link's), configured as that link
//! was on the host: MTU, its (first) IPv4 address, up, then its routes.

use std::io;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use rukt_kvm_init::NET_MODULES;
use rukt_kvm_init::proto::GuestNic;
use rukt_sys::netdev;

use crate::boot;

/// How long a NIC may take to appear once `virtio_net` is loaded.
const APPEAR: Duration = Duration::from_secs(5);

/// Brings up `lo` and configures `nics`.
pub fn configure(nics: &[GuestNic]) -> io::Result<()> {
    netdev::set_up("lo")?;
    if nics.is_empty() {
        return Ok(());
    }
    boot::load_modules(&NET_MODULES)?;
    for nic in nics {
        let name = wait_for(&nic.mac)?;
        netdev::set_mtu(&name, nic.mtu)?;
        // One address per NIC (what CNI's IPv4 IPAM gives).
        if let Some(a) = nic.addresses.first() {
            let (ip, prefix) = cidr(a)?;
            netdev::set_ipv4(&name, ip, prefix)?;
        }
        netdev::set_up(&name)?;
        for (dst, gw) in &nic.routes {
            let (dst_ip, prefix) = cidr(dst)?;
            let gw = match gw.as_deref().or(nic.gateway.as_deref()) {
                Some(g) => Some(ipv4(g)?),
                None => None,
            };
            // A second network's default route: the first network's stays
            // (as the pod's netns would have refused it too).
            match netdev::add_route_v4(dst_ip, prefix, gw, &name) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    crate::log(&format!("route {dst} on {name}: already there, skipped"));
                }
                r => r?,
            }
        }
    }
    Ok(())
}

/// The name of the interface with MAC `mac`, once it exists.
fn wait_for(mac: &str) -> io::Result<String> {
    let start = Instant::now();
    loop {
        for e in std::fs::read_dir("/sys/class/net")?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let addr = std::fs::read_to_string(e.path().join("address")).unwrap_or_default();
            if addr.trim().eq_ignore_ascii_case(mac) {
                return Ok(name);
            }
        }
        if start.elapsed() > APPEAR {
            return Err(io::Error::other(format!(
                "no network interface with MAC {mac}"
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn ipv4(s: &str) -> io::Result<Ipv4Addr> {
    s.parse()
        .map_err(|_| io::Error::other(format!("not an IPv4 address: {s}")))
}

/// `10.1.0.5/24` as its address and prefix length.
fn cidr(s: &str) -> io::Result<(Ipv4Addr, u8)> {
    let (ip, prefix) = s.split_once('/').unwrap_or((s, "32"));
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| io::Error::other(format!("bad prefix in {s}")))?;
    Ok((ipv4(ip)?, prefix))
}
