//! Socket activation into a VM. A descriptor cannot be passed into a
//! guest, so the supervisor keeps the listeners systemd gave `rukt run`
//! (stage0 kept them at 3 onwards across its exec), accepts on them, and
//! proxies each connection over the control port; the guest init
//! recreates each listener inside the VM (same family and port, on the
//! guest's loopback) for the app named like a descriptor (else the first)
//! and connects to it per client (`rukt_kvm_init::activation`).
//!
//! The cost: every byte crosses the virtio-serial port that also carries
//! the apps' output (a copy on each side and a frame header per 64 KiB),
//! so throughput is far below a descriptor handed to a process, and the app
//! sees its peer as the guest's loopback. Only stream sockets can be
//! proxied; a datagram or non-listening descriptor is refused before the
//! VM starts.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use anyhow::{Context, bail};
use rukt_contract::{ListenFds, PodManifest};
use rukt_kvm_init::proto::{CONN_BASE, Frame, GuestListener, Kind, ListenerFamily};
use rukt_kvm_init::relay::Relay;
use rustix::net::{AddressFamily, SocketAddrV4, SocketAddrV6, SocketType, sockopt};

/// How long a write to a client may block before the connection is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The activated listeners and their connections.
pub struct Proxy {
    listeners: Vec<OwnedFd>,
    conns: Relay,
    next: u32,
}

/// What the guest needs to recreate the listeners.
pub struct Plan {
    /// The listeners, in `LISTEN_FDS` order.
    pub listen: Vec<GuestListener>,
    /// The app (index) that gets them.
    pub app: usize,
}

/// Takes the descriptors socket activation passed this process, if any:
/// the proxy, and the plan for the guest.
pub fn take(pod: &PodManifest) -> anyhow::Result<Option<(Proxy, Plan)>> {
    let Some(fds) = ListenFds::from_env() else {
        return Ok(None);
    };
    if fds.count > u32::from(u8::MAX) {
        bail!(
            "{} activated descriptors: the kvm stage1 proxies at most 255",
            fds.count
        );
    }
    let mut listeners = Vec::new();
    let mut listen = Vec::new();
    for (fd, name) in fds.fds().zip(&fds.names) {
        let owned = rukt_sys::fds::take_inherited(fd)
            .with_context(|| format!("cannot take activated descriptor {fd}"))?;
        // Neither virtiofsd nor qemu may inherit it.
        rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC)?;
        listen.push(describe(owned.as_fd(), fd, name)?);
        rustix::io::ioctl_fionbio(&owned, true)?;
        listeners.push(owned);
    }
    let app = pod
        .apps
        .iter()
        .position(|a| fds.names.contains(&a.name))
        .unwrap_or(0);
    tracing::debug!(
        count = fds.count,
        app,
        "socket activation, proxied into the VM"
    );
    let proxy = Proxy {
        listeners,
        conns: Relay::new(Kind::ConnIn),
        next: CONN_BASE,
    };
    Ok(Some((proxy, Plan { listen, app })))
}

/// What listener `fd` is, for the guest; an error for what cannot be proxied.
fn describe(fd: BorrowedFd<'_>, number: i32, name: &str) -> anyhow::Result<GuestListener> {
    let what = || format!("activated descriptor {number} ({name})");
    if sockopt::socket_type(fd).with_context(what)? != SocketType::STREAM {
        bail!(
            "{}: the kvm stage1 proxies only stream sockets into the VM",
            what()
        );
    }
    if !sockopt::socket_acceptconn(fd).with_context(what)? {
        bail!("{}: not a listening socket (Accept=no only)", what());
    }
    let addr = rustix::net::getsockname(fd).with_context(what)?;
    let (family, port) = match addr.address_family() {
        AddressFamily::INET => (
            ListenerFamily::Inet,
            SocketAddrV4::try_from(addr).map_or(0, |a| a.port()),
        ),
        AddressFamily::INET6 => (
            ListenerFamily::Inet6,
            SocketAddrV6::try_from(addr).map_or(0, |a| a.port()),
        ),
        AddressFamily::UNIX => (ListenerFamily::Unix, 0),
        _ => bail!("{}: an address family the VM cannot have", what()),
    };
    Ok(GuestListener {
        family,
        port,
        name: name.to_string(),
    })
}

impl Proxy {
    /// The listeners to poll, by index.
    pub fn listeners(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.listeners.iter().map(|l| l.as_fd())
    }

    /// The connections to poll for what clients send.
    pub fn readable(&self) -> impl Iterator<Item = (u32, BorrowedFd<'_>)> {
        self.conns.readable()
    }

    /// Accepts a client of listener `index`: the frame that tells the guest.
    pub fn accept(&mut self, index: usize) -> Option<Frame> {
        let fd = rustix::net::accept_with(
            self.listeners.get(index)?,
            rustix::net::SocketFlags::CLOEXEC,
        )
        .ok()?;
        // Accepted sockets block: reads happen only when poll says so, and
        // a client that stops reading costs at most SEND_TIMEOUT.
        let _ = sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(SEND_TIMEOUT));
        let id = self.next;
        self.next = self.next.checked_add(1).unwrap_or(CONN_BASE);
        tracing::debug!("connection {id} accepted on activated listener {index}");
        self.conns.insert(id, fd);
        Some(Frame::new(Kind::Accept, id, vec![index as u8]))
    }

    /// Reads what client `id` sent: the frame for the guest (empty at its
    /// end).
    pub fn read(&mut self, id: u32) -> Option<Frame> {
        self.conns.read(id)
    }

    /// Bytes the app sent on connection `id` (empty: its end); a frame for
    /// the guest if the client is gone.
    pub fn write(&mut self, id: u32, data: &[u8]) -> Option<Frame> {
        self.conns.write(id, data)
    }
}
