//! The namespaces a pod's apps share: the supervisor unshares them for
//! itself (network unless `--net=host`, UTS always, IPC unless `--ipc` says
//! otherwise) or, for a pod with CNI networks, joins the network namespace
//! they were attached to; it names the host and brings up loopback; apps
//! then join them by path (`/proc/<supervisor>/ns/...`), so that `enter`
//! joins them too.

use std::os::fd::OwnedFd;

use rukt_contract::{NetMode, PodManifest, Sharing};

/// A namespace failure.
#[derive(Debug, thiserror::Error)]
pub enum NsError {
    /// unshare(2) failed.
    #[error("cannot create the pod's namespaces")]
    Unshare(#[source] std::io::Error),
    /// sethostname(2) failed.
    #[error("cannot set the hostname {0:?}")]
    Hostname(String, #[source] std::io::Error),
    /// The pod's network namespace could not be joined.
    #[error("cannot join the pod's network namespace")]
    Join(#[source] std::io::Error),
    /// Loopback could not be brought up.
    #[error("cannot bring up loopback")]
    Loopback(#[source] std::io::Error),
}

/// Which namespaces the supervisor made for the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodNamespaces {
    /// A network namespace of the pod's own.
    pub net: bool,
    /// An IPC namespace shared by the apps.
    pub ipc: bool,
}

impl PodNamespaces {
    /// What `pod` asks for.
    pub fn of(pod: &PodManifest) -> PodNamespaces {
        PodNamespaces {
            net: pod.net == NetMode::None,
            ipc: pod.namespaces.ipc == Sharing::Pod,
        }
    }
}

/// The pod's hostname: `--hostname`, or `rukt-` and the UUID's first group.
pub fn hostname(pod: &PodManifest) -> String {
    pod.hostname.clone().unwrap_or_else(|| {
        let short: String = pod.uuid.chars().take(8).collect();
        format!("rukt-{short}")
    })
}

/// Moves the calling (single-threaded) process into new namespaces; into
/// `netns` for the network when the pod's networks made one.
pub fn enter_new(
    ns: PodNamespaces,
    hostname: &str,
    netns: Option<&OwnedFd>,
) -> Result<(), NsError> {
    let mut flags = libc::CLONE_NEWUTS;
    if ns.net && netns.is_none() {
        flags |= libc::CLONE_NEWNET;
    }
    if ns.ipc {
        flags |= libc::CLONE_NEWIPC;
    }
    // SAFETY: unshare(2) only changes this process's namespace membership.
    if unsafe { libc::unshare(flags) } != 0 {
        return Err(NsError::Unshare(std::io::Error::last_os_error()));
    }
    if let Some(fd) = netns {
        rukt_net::netns::enter(fd).map_err(NsError::Join)?;
    }
    // SAFETY: the pointer and length describe `hostname`'s bytes.
    if unsafe { libc::sethostname(hostname.as_ptr().cast(), hostname.len()) } != 0 {
        return Err(NsError::Hostname(
            hostname.to_string(),
            std::io::Error::last_os_error(),
        ));
    }
    if ns.net {
        loopback_up().map_err(NsError::Loopback)?;
    }
    Ok(())
}

/// `ip link set lo up`, by ioctl.
fn loopback_up() -> std::io::Result<()> {
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    let raw = std::os::fd::AsRawFd::as_raw_fd(&sock);
    // SAFETY: SIOCGIFFLAGS reads into the ifreq we pass, which outlives the call.
    if unsafe { libc::ioctl(raw, libc::SIOCGIFFLAGS, &mut req) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: after SIOCGIFFLAGS the union holds the flags.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS reads the ifreq we pass.
    if unsafe { libc::ioctl(raw, libc::SIOCSIFFLAGS, &req) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
