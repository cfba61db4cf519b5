//! `--sd-notify=app:NAME` inside the VM: the init binds a datagram socket
//! under [`DIR`], mounts that directory read-only at `/run/notify` in the
//! gating app's root (whose `NOTIFY_SOCKET` names
//! `rukt_contract::sdnotify::APP_SOCKET`, as under nspawn) and forwards
//! each datagram to the host as [`Kind::Notify`]. The host, not the guest,
//! decides what reaches the service manager (the guest is untrusted).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use rukt_contract::ENV_NOTIFY_SOCKET;
use rukt_contract::sdnotify::APP_SOCKET;
use rukt_kvm_init::proto::{Kind, encode_chunked};

/// Where the socket lives (the initramfs, in guest memory).
pub const DIR: &str = "/rukt-notify";

/// The gating app's notification socket.
pub struct AppNotify {
    app: String,
    socket: UnixDatagram,
}

impl AppNotify {
    /// Binds the socket for `app`.
    pub fn open(app: &str) -> io::Result<AppNotify> {
        std::fs::create_dir_all(DIR)?;
        let path = Path::new(DIR).join("notify.sock");
        let socket = UnixDatagram::bind(&path)?;
        socket.set_nonblocking(true)?;
        // Any user the app runs as may send.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))?;
        Ok(AppNotify {
            app: app.to_string(),
            socket,
        })
    }

    /// For app `name`: the directory to mount read-only at `/run/notify`
    /// in its root ([`crate::approot::prepare`]) and its variable; `None`
    /// for the other apps.
    pub fn give(&self, name: &str) -> Option<(&'static str, String)> {
        (name == self.app).then(|| (DIR, format!("{ENV_NOTIFY_SOCKET}={APP_SOCKET}")))
    }

    /// The socket to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Frames every datagram waiting for the host.
    pub fn relay(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            encode_chunked(Kind::Notify, 0, &buf[..n], out);
        }
    }
}
