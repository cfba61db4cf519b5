//! `--sd-notify=app:NAME`: the named app gates the pod's readiness. The
//! supervisor binds a datagram socket at `notify/notify.sock` in the pod's
//! run directory ([`crate::rundir`]),
//! bind-mounts its directory read-only at `/run/notify` in that app only,
//! whose `NOTIFY_SOCKET` names it, and relays to the service manager only
//! `READY`, `STATUS`, `WATCHDOG` and `EXTEND_TIMEOUT_USEC` lines
//! (`rukt_contract::sdnotify::relayable`): never `MAINPID` (this process
//! is the unit's main PID) nor descriptors (a datagram read without room
//! for them has them closed by the kernel).

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

use anyhow::Context;
use rukt_contract::sdnotify::{self, APP_SOCKET, SdNotify};
use rukt_contract::{App, ENV_NOTIFY_SOCKET, PodManifest};
use serde_json::{Value, json};

/// The relay of the gating app's notifications.
pub struct AppNotify {
    app: String,
    socket: UnixDatagram,
    dir: std::path::PathBuf,
}

impl AppNotify {
    /// The relay the pod asks for: `None` in pod mode (the supervisor
    /// notifies itself), or when the service manager gave no socket.
    pub fn open(pod: &PodManifest, pod_dir: &Path) -> anyhow::Result<Option<AppNotify>> {
        let SdNotify::App(app) = &pod.sd_notify else {
            return Ok(None);
        };
        if std::env::var_os(ENV_NOTIFY_SOCKET).is_none() {
            return Ok(None);
        }
        let dir = crate::rundir::of(pod_dir).join("notify");
        std::fs::create_dir_all(&dir).context("cannot create the notify directory")?;
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let socket = UnixDatagram::bind(&path).context("cannot bind the app's notify socket")?;
        socket.set_nonblocking(true)?;
        // Any user the app runs as may send (as runc's).
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))?;
        Ok(Some(AppNotify {
            app: app.clone(),
            socket,
            dir,
        }))
    }

    /// For the gating app: the socket's directory at `/run/notify` and
    /// `NOTIFY_SOCKET` in its OCI `config`.
    pub fn give(&self, app: &App, config: &mut Value) {
        if app.name != self.app {
            return;
        }
        let mount_point = Path::new(APP_SOCKET).parent().expect("a directory");
        if let Some(mounts) = config["mounts"].as_array_mut() {
            mounts.push(json!({
                "destination": mount_point, "type": "bind", "source": self.dir,
                "options": ["bind", "ro", "nosuid", "nodev", "noexec"],
            }));
        }
        if let Some(env) = config["process"]["env"].as_array_mut() {
            let prefix = format!("{ENV_NOTIFY_SOCKET}=");
            env.retain(|v| !v.as_str().is_some_and(|s| s.starts_with(&prefix)));
            env.push(format!("{prefix}{APP_SOCKET}").into());
        }
    }

    /// The socket to poll.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Relays what the app sent.
    pub fn ready(&self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.socket.recv(&mut buf) {
            let allowed = sdnotify::relayable(&buf[..n]);
            if allowed.is_empty() {
                continue;
            }
            tracing::debug!(app = %self.app, "relaying {allowed:?}");
            sdnotify::engine_notify(&allowed);
        }
    }
}
