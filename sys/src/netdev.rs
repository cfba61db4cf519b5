//! Network devices by the classic `ioctl(2)`s, in the network namespace of
//! the calling thread: opening a tap device (`TUNSETIFF` on
//! `/dev/net/tun`), reading an interface's index, reading and setting its
//! MTU, MAC and flags,
//! giving it an IPv4 address and adding IPv4 routes (`SIOCADDRT`). The kvm
//! stage1 makes its pod's tap with them; its guest init configures the
//! VM's network interfaces with them (a static binary with no `ip`).

use std::ffi::c_ulong;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

use rustix::fs::{Mode, OFlags};

/// A MAC address.
pub type Mac = [u8; 6];

/// An `ifreq` naming `name`, the rest zero.
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
    }
    // SAFETY: `ifreq` is plain old data (arrays, integers, a union of
    // those and a pointer); all zeroes is a valid value of it.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Ok(req)
}

/// `ioctl(fd, request, arg)` for a request whose argument is a `T`.
fn ioctl<T>(fd: &OwnedFd, request: c_ulong, arg: &mut T) -> io::Result<()> {
    // SAFETY: every caller passes a request whose argument is a pointer to
    // a `T` (an `ifreq` or an `Rtentry`, laid out as the kernel's), which
    // lives, exclusively borrowed, for the duration of the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg as *mut T) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// A socket for interface ioctls in the calling thread's namespace.
fn control_socket() -> io::Result<OwnedFd> {
    Ok(rustix::net::socket_with(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?)
}

fn with_context(e: io::Error, what: &str, name: &str) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {what} {name}: {e}"))
}

/// Creates tap device `name` (no packet information header) and returns
/// its descriptor (close-on-exec): the device lives as long as it is open.
pub fn open_tap(name: &str) -> io::Result<OwnedFd> {
    let fd = rustix::fs::open(
        "/dev/net/tun",
        OFlags::RDWR | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| with_context(e.into(), "open /dev/net/tun for", name))?;
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    ioctl(&fd, libc::TUNSETIFF as c_ulong, &mut req)
        .map_err(|e| with_context(e, "create tap", name))?;
    Ok(fd)
}

/// The index of interface `name`.
pub fn index(name: &str) -> io::Result<u32> {
    let mut req = ifreq(name)?;
    ioctl(&control_socket()?, libc::SIOCGIFINDEX, &mut req)
        .map_err(|e| with_context(e, "find", name))?;
    // SAFETY: SIOCGIFINDEX filled in the `ifindex` member.
    Ok(unsafe { req.ifr_ifru.ifru_ifindex } as u32)
}

/// The MTU of interface `name`.
pub fn mtu(name: &str) -> io::Result<u32> {
    let mut req = ifreq(name)?;
    ioctl(&control_socket()?, libc::SIOCGIFMTU, &mut req)
        .map_err(|e| with_context(e, "read the MTU of", name))?;
    // SAFETY: SIOCGIFMTU filled in the `mtu` member.
    Ok(unsafe { req.ifr_ifru.ifru_mtu } as u32)
}

/// Sets the MTU of interface `name`.
pub fn set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_mtu = mtu as libc::c_int;
    ioctl(&control_socket()?, libc::SIOCSIFMTU, &mut req)
        .map_err(|e| with_context(e, "set the MTU of", name))
}

/// The MAC address of interface `name`.
pub fn mac(name: &str) -> io::Result<Mac> {
    let mut req = ifreq(name)?;
    ioctl(&control_socket()?, libc::SIOCGIFHWADDR, &mut req)
        .map_err(|e| with_context(e, "read the MAC address of", name))?;
    // SAFETY: SIOCGIFHWADDR filled in the `hwaddr` member.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (m, d) in mac.iter_mut().zip(data) {
        *m = d as u8;
    }
    Ok(mac)
}

/// Brings interface `name` up.
pub fn set_up(name: &str) -> io::Result<()> {
    let sock = control_socket()?;
    let mut req = ifreq(name)?;
    ioctl(&sock, libc::SIOCGIFFLAGS, &mut req)
        .map_err(|e| with_context(e, "read the flags of", name))?;
    // SAFETY: SIOCGIFFLAGS filled in the `flags` member.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    req.ifr_ifru.ifru_flags = flags | libc::IFF_UP as libc::c_short;
    ioctl(&sock, libc::SIOCSIFFLAGS, &mut req).map_err(|e| with_context(e, "bring up", name))
}

fn sockaddr_in(ip: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sockaddr_in` and `sockaddr` have the same size (16 bytes)
    // and both are plain old data; this is how the C API means them used.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix.min(32)))
            .unwrap_or(0),
    )
}

/// Gives interface `name` the IPv4 address `ip/prefix` (replacing its
/// primary one).
pub fn set_ipv4(name: &str, ip: Ipv4Addr, prefix: u8) -> io::Result<()> {
    let sock = control_socket()?;
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_addr = sockaddr_in(ip);
    ioctl(&sock, libc::SIOCSIFADDR, &mut req)
        .map_err(|e| with_context(e, "set the address of", name))?;
    req.ifr_ifru.ifru_netmask = sockaddr_in(netmask(prefix));
    ioctl(&sock, libc::SIOCSIFNETMASK, &mut req)
        .map_err(|e| with_context(e, "set the netmask of", name))
}

/// The kernel's `struct rtentry` (`<linux/route.h>`; glibc's libc crate
/// has no binding of it). Its fields are read by the kernel only.
#[repr(C)]
#[allow(dead_code)]
struct Rtentry {
    rt_pad1: c_ulong,
    rt_dst: libc::sockaddr,
    rt_gateway: libc::sockaddr,
    rt_genmask: libc::sockaddr,
    rt_flags: libc::c_ushort,
    rt_pad2: libc::c_short,
    rt_pad3: c_ulong,
    rt_pad4: *mut libc::c_void,
    rt_metric: libc::c_short,
    rt_dev: *mut libc::c_char,
    rt_mtu: c_ulong,
    rt_window: c_ulong,
    rt_irtt: libc::c_ushort,
}

/// Adds the IPv4 route to `dst/prefix` through `gateway` (on-link without
/// one) on interface `dev`.
pub fn add_route_v4(
    dst: Ipv4Addr,
    prefix: u8,
    gateway: Option<Ipv4Addr>,
    dev: &str,
) -> io::Result<()> {
    let mut dev_name = std::ffi::CString::new(dev)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "bad interface name"))?
        .into_bytes_with_nul();
    let mut flags = libc::RTF_UP;
    if gateway.is_some() {
        flags |= libc::RTF_GATEWAY;
    }
    let mut rt = Rtentry {
        rt_pad1: 0,
        rt_dst: sockaddr_in(dst),
        rt_gateway: sockaddr_in(gateway.unwrap_or(Ipv4Addr::UNSPECIFIED)),
        rt_genmask: sockaddr_in(netmask(prefix)),
        rt_flags: flags,
        rt_pad2: 0,
        rt_pad3: 0,
        rt_pad4: std::ptr::null_mut(),
        rt_metric: 0,
        rt_dev: dev_name.as_mut_ptr().cast(),
        rt_mtu: 0,
        rt_window: 0,
        rt_irtt: 0,
    };
    ioctl(&control_socket()?, libc::SIOCADDRT, &mut rt)
        .map_err(|e| with_context(e, &format!("add the route to {dst}/{prefix} on"), dev))
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: &Mac) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_names_and_macs() {
        assert_eq!(netmask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(netmask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(netmask(32), Ipv4Addr::BROADCAST);
        assert!(ifreq("").is_err() && ifreq("a-name-far-too-long").is_err());
        assert_eq!(format_mac(&[0xaa, 0, 1, 2, 3, 0xff]), "aa:00:01:02:03:ff");
        assert_eq!(std::mem::size_of::<libc::sockaddr_in>(), 16);
    }

    #[test]
    fn loopback_s_mtu_and_mac() {
        // Every network namespace has `lo`.
        assert!(mtu("lo").unwrap() >= 1500);
        assert_eq!(mac("lo").unwrap(), [0; 6]);
        assert!(index("lo").unwrap() >= 1);
        assert!(mtu("no-such-if0").is_err());
    }
}
