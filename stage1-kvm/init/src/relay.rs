//! Proxied connections, one side of them: the host's supervisor holds the
//! client's end, the guest init its own connection to the app's listener,
//! and each relays what its socket reads as frames of one kind (the host
//! [`Kind::ConnIn`], the guest [`Kind::ConnOut`]) and writes what the other
//! side sent. An empty frame is that side's end of sending; a connection is
//! forgotten once both directions ended.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use crate::proto::{Frame, Kind};

/// The connections of one side.
pub struct Relay {
    /// The kind of frame this side sends.
    kind: Kind,
    conns: BTreeMap<u32, Conn>,
}

struct Conn {
    fd: OwnedFd,
    /// This side's socket will give no more (the other side was told).
    read_done: bool,
    /// The other side will send no more (our writing is shut down).
    write_done: bool,
}

impl Relay {
    /// No connections yet; this side sends frames of `kind`.
    pub fn new(kind: Kind) -> Relay {
        Relay {
            kind,
            conns: BTreeMap::new(),
        }
    }

    /// Adds connection `id` on socket `fd` (blocking; written with a send
    /// timeout set by the caller).
    pub fn insert(&mut self, id: u32, fd: OwnedFd) {
        let conn = Conn {
            fd,
            read_done: false,
            write_done: false,
        };
        self.conns.insert(id, conn);
    }

    /// The sockets to poll for reading.
    pub fn readable(&self) -> impl Iterator<Item = (u32, BorrowedFd<'_>)> {
        self.conns
            .iter()
            .filter(|(_, c)| !c.read_done)
            .map(|(id, c)| (*id, c.fd.as_fd()))
    }

    /// Reads what connection `id`'s socket holds (it polled readable): the
    /// frame for the other side, empty at the socket's end.
    pub fn read(&mut self, id: u32) -> Option<Frame> {
        let c = self.conns.get_mut(&id)?;
        let mut buf = vec![0u8; 64 * 1024];
        let n = rustix::io::read(&c.fd, &mut buf).unwrap_or(0);
        if n == 0 {
            c.read_done = true;
        }
        buf.truncate(n);
        self.forget_finished();
        Some(Frame::new(self.kind, id, buf))
    }

    /// Writes what the other side sent on connection `id` (empty: its
    /// end). If our socket is gone or stopped reading, the connection ends
    /// both ways: the frame that tells the other side.
    pub fn write(&mut self, id: u32, data: &[u8]) -> Option<Frame> {
        let c = self.conns.get_mut(&id)?;
        let mut reply = None;
        if data.is_empty() {
            let _ = rustix::net::shutdown(&c.fd, rustix::net::Shutdown::Write);
            c.write_done = true;
        } else if write_all(c.fd.as_fd(), data).is_err() {
            c.write_done = true;
            if !c.read_done {
                c.read_done = true;
                reply = Some(Frame::new(self.kind, id, Vec::new()));
            }
        }
        self.forget_finished();
        reply
    }

    fn forget_finished(&mut self) {
        self.conns.retain(|_, c| !(c.read_done && c.write_done));
    }
}

fn write_all(fd: BorrowedFd<'_>, mut data: &[u8]) -> rustix::io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn relays_both_ways_and_forgets_a_finished_connection() {
        let (mine, mut peer) = UnixStream::pair().unwrap();
        let mut relay = Relay::new(Kind::ConnOut);
        relay.insert(7, mine.into());
        peer.write_all(b"hi").unwrap();
        assert_eq!(
            relay.read(7),
            Some(Frame::new(Kind::ConnOut, 7, b"hi".to_vec()))
        );
        assert_eq!(relay.write(7, b"there"), None);
        let mut buf = [0u8; 5];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"there");
        // The other side ends its sending: we shut down writing, the peer sees EOF.
        assert_eq!(relay.write(7, b""), None);
        assert_eq!(peer.read(&mut buf).unwrap(), 0);
        drop(peer);
        assert_eq!(
            relay.read(7),
            Some(Frame::new(Kind::ConnOut, 7, Vec::new()))
        );
        assert_eq!(relay.readable().count(), 0);
        assert_eq!(relay.read(7), None, "forgotten once both directions ended");
    }
}
