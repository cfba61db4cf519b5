//! Socket activation inside the VM. A descriptor cannot cross into a VM, so
//! the host's supervisor keeps the listeners systemd passed and proxies
//! every connection over the control port; the init recreates each
//! listener in the guest (same family and port, on the guest's loopback,
//! or a unix socket under [`DIR`]), hands them to the activated app from
//! descriptor 3 on, and for each [`Kind::Accept`] connects to the app's
//! listener and relays bytes both ways ([`Kind::ConnIn`], [`Kind::ConnOut`]).
//! The app thus accepts real stream connections; their peer is the guest's
//! loopback, not the remote client.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rukt_contract::{ENV_LISTEN_FDNAMES, ENV_LISTEN_FDS, ENV_LISTEN_PID};
use rukt_kvm_init::proto::{Frame, GuestListener, Kind, ListenerFamily};
use rukt_kvm_init::relay::Relay;
use rustix::net::{
    AddressFamily, SocketAddrAny, SocketAddrUnix, SocketAddrV4, SocketAddrV6, SocketType, sockopt,
};

/// Where unix listeners are bound (the initramfs, in guest memory).
pub const DIR: &str = "/rukt-listen";
/// How long a write to a connection may block before it is dropped (an
/// app that stops reading must not stall the whole control port).
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The recreated listeners.
pub struct Listeners {
    fds: Vec<OwnedFd>,
    addrs: Vec<SocketAddrAny>,
    names: Vec<String>,
}

impl Listeners {
    /// Binds and listens on each of `listen`.
    pub fn open(listen: &[GuestListener]) -> io::Result<Listeners> {
        let mut out = Listeners {
            fds: Vec::new(),
            addrs: Vec::new(),
            names: Vec::new(),
        };
        for (i, l) in listen.iter().enumerate() {
            let addr = address(l, i)?;
            let fd = socket_for(&addr)?;
            sockopt::set_socket_reuseaddr(&fd, true)?;
            rustix::net::bind(&fd, &addr)?;
            rustix::net::listen(&fd, 128)?;
            out.fds.push(fd);
            out.addrs.push(addr);
            out.names.push(l.name.clone());
        }
        Ok(out)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// The descriptors, for the activated app (in `LISTEN_FDS` order).
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.fds.iter().map(|f| f.as_fd()).collect()
    }

    /// The activated app's variables: it is PID 1 of a PID namespace of its
    /// own (`spawn` puts it there), as under nspawn.
    pub fn env(&self) -> Vec<String> {
        vec![
            format!("{ENV_LISTEN_FDS}={}", self.fds.len()),
            format!("{ENV_LISTEN_FDNAMES}={}", self.names.join(":")),
            format!("{ENV_LISTEN_PID}=1"),
        ]
    }

    /// Closes the init's copies once the app holds them (the addresses
    /// stay reachable while it does).
    pub fn close_fds(&mut self) {
        self.fds.clear();
    }

    /// A new connection to listener `index`.
    fn connect(&self, index: usize) -> io::Result<OwnedFd> {
        let addr = self
            .addrs
            .get(index)
            .ok_or_else(|| io::Error::other(format!("no activated listener {index}")))?;
        let fd = socket_for(addr)?;
        rustix::net::connect(&fd, addr)?;
        sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(SEND_TIMEOUT))?;
        Ok(fd)
    }
}

fn address(l: &GuestListener, index: usize) -> io::Result<SocketAddrAny> {
    Ok(match l.family {
        ListenerFamily::Inet => SocketAddrV4::new([127, 0, 0, 1].into(), l.port).into(),
        ListenerFamily::Inet6 => {
            SocketAddrV6::new(std::net::Ipv6Addr::LOCALHOST, l.port, 0, 0).into()
        }
        ListenerFamily::Unix => {
            std::fs::create_dir_all(DIR)?;
            SocketAddrUnix::new(format!("{DIR}/{index}.sock"))?.into()
        }
    })
}

fn socket_for(addr: &SocketAddrAny) -> io::Result<OwnedFd> {
    let family = match addr.address_family() {
        AddressFamily::INET => AddressFamily::INET,
        AddressFamily::INET6 => AddressFamily::INET6,
        _ => AddressFamily::UNIX,
    };
    Ok(rustix::net::socket_with(
        family,
        SocketType::STREAM,
        rustix::net::SocketFlags::CLOEXEC,
        None,
    )?)
}

/// The proxied connections in the guest: the init's ends of its
/// connections to the app's listeners.
pub struct Conns {
    relay: Relay,
}

impl Default for Conns {
    fn default() -> Conns {
        Conns {
            relay: Relay::new(Kind::ConnOut),
        }
    }
}

impl Conns {
    /// A client of listener `payload[0]` arrived as connection `id`; if the
    /// app's listener cannot be reached, the frame that tells the host the
    /// connection ended.
    pub fn accept(&mut self, listeners: &Listeners, id: u32, payload: &[u8]) -> Option<Frame> {
        let index = payload.first().copied().unwrap_or(0) as usize;
        match listeners.connect(index) {
            Ok(fd) => {
                self.relay.insert(id, fd);
                None
            }
            Err(_) => Some(Frame::new(Kind::ConnOut, id, Vec::new())),
        }
    }

    /// Bytes from the host's client for connection `id` (empty: its end).
    pub fn data_in(&mut self, id: u32, data: &[u8]) -> Option<Frame> {
        self.relay.write(id, data)
    }

    /// The descriptors to poll for what the app sends.
    pub fn pollable(&self) -> impl Iterator<Item = (u32, BorrowedFd<'_>)> {
        self.relay.readable()
    }

    /// Reads what connection `id` holds now: the frame for the host.
    pub fn relay(&mut self, id: u32) -> Option<Frame> {
        self.relay.read(id)
    }
}
