//! `--interactive`: the app gets a pseudo-terminal of its own. libcontainer
//! creates it inside the app and passes the master side over a unix socket
//! we listen on (runc's console-socket protocol); the supervisor then relays
//! between its own stdin/stdout and the master, with the caller's terminal
//! (if stdin is one) in raw mode and the window size passed on.

use std::io::{IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

/// The socket libcontainer sends the master to.
pub struct ConsoleSocket {
    listener: UnixListener,
    /// Its path.
    pub path: PathBuf,
}

impl ConsoleSocket {
    /// Listens on `<name>` in the pod's run directory ([`crate::rundir`]),
    /// whose path is always short enough for a socket address
    /// (libcontainer connects to it by path).
    pub fn listen(pod_dir: &Path, name: &str) -> anyhow::Result<ConsoleSocket> {
        let path = crate::rundir::of(pod_dir).join(name);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        Ok(ConsoleSocket { listener, path })
    }

    /// Receives the master side of the app's terminal (libcontainer has
    /// already connected and sent it by the time the app is created).
    pub fn receive(self) -> anyhow::Result<OwnedFd> {
        let (stream, _) = self.listener.accept().context("no console connection")?;
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let mut buf = [0u8; 64];
        rustix::net::recvmsg(
            &stream,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        )
        .context("cannot receive the terminal")?;
        for msg in control.drain() {
            if let RecvAncillaryMessage::ScmRights(mut fds) = msg
                && let Some(fd) = fds.next()
            {
                let _ = std::fs::remove_file(&self.path);
                return Ok(fd);
            }
        }
        bail!("the console connection carried no terminal")
    }
}

/// Relays between our stdio and the app's terminal.
pub struct Relay {
    master: OwnedFd,
    stdin_open: bool,
    _raw: rukt_sys::pty::RawMode,
}

impl Relay {
    /// Starts relaying: our terminal (if any) goes raw, its size is copied.
    pub fn new(master: OwnedFd) -> Relay {
        let relay = Relay {
            master,
            stdin_open: true,
            _raw: rukt_sys::pty::RawMode::stdin(),
        };
        relay.resize();
        relay
    }

    /// The descriptors to poll: the master, then stdin while it is open.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut v = vec![self.master.as_fd()];
        if self.stdin_open {
            // SAFETY: fd 0 stays open for this process's life.
            v.push(unsafe { BorrowedFd::borrow_raw(0) });
        }
        v
    }

    /// Copies the caller's window size to the app's terminal.
    pub fn resize(&self) {
        if let Ok(ws) = rustix::termios::tcgetwinsize(std::io::stdin()) {
            let _ = rustix::termios::tcsetwinsize(&self.master, ws);
        }
    }

    /// Handles readiness of `fds()[index]`; false once the app's side closed.
    pub fn ready(&mut self, index: usize) -> bool {
        let mut buf = [0u8; 8192];
        if index == 0 {
            match rustix::io::read(&self.master, &mut buf) {
                Ok(0) | Err(_) => false,
                Ok(n) => {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&buf[..n]).and_then(|()| out.flush());
                    true
                }
            }
        } else {
            match std::io::stdin().lock().read(&mut buf) {
                Ok(0) | Err(_) => {
                    // End of input: an end-of-file character for the app.
                    self.stdin_open = false;
                    let _ = rustix::io::write(&self.master, &[4]);
                }
                Ok(n) => {
                    let _ = rustix::io::write(&self.master, &buf[..n]);
                }
            }
            true
        }
    }

    /// Handles a wake-up of the poll over [`Relay::fds`]: false once the
    /// app's side is closed (and the relay is done).
    pub fn on_ready(relay: &mut Option<Relay>, index: usize) {
        if let Some(r) = relay
            && !r.ready(index)
        {
            *relay = None;
        }
    }

    /// Copies what the app wrote before it exited.
    pub fn drain(&mut self) {
        let _ = rustix::fs::fcntl_setfl(&self.master, rustix::fs::OFlags::NONBLOCK);
        while self.ready(0) {}
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        // Not received (the app's creation failed): nobody connects again.
        let _ = std::fs::remove_file(&self.path);
    }
}
