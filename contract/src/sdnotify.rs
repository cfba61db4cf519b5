//! Version 2: sd_notify(3), the service manager's readiness protocol, in
//! the few lines it takes: one datagram of newline-separated `KEY=VALUE`
//! to the socket `NOTIFY_SOCKET` names, a path or `@name` for an abstract
//! socket (which the `sd-notify` crate cannot reach). stage0 sends
//! `STATUS=`/`EXTEND_TIMEOUT_USEC=` while it fetches; an engine sends
//! `READY=1` and `STOPPING=1`.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use crate::ENV_NOTIFY_SOCKET;

/// Version 2: who tells the service manager the pod is ready, when
/// `NOTIFY_SOCKET` is set (`--sd-notify`, in the pod manifest).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SdNotify {
    /// The engine, once every app has started.
    #[default]
    Pod,
    /// This app, through a socket at [`APP_SOCKET`] the engine relays
    /// ([`RELAYED_KEYS`] only).
    App(String),
    /// Nobody: stage0 does not pass `NOTIFY_SOCKET` on.
    Ignore,
}

impl SdNotify {
    /// Whether this is the default.
    pub fn is_pod(&self) -> bool {
        *self == SdNotify::Pod
    }
}

/// Where the gating app finds its notification socket (as runc and
/// podman), with `NOTIFY_SOCKET` set to it.
pub const APP_SOCKET: &str = "/run/notify/notify.sock";

/// A notification socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
}

impl Notifier {
    /// The socket `NOTIFY_SOCKET` names; `None` when it is unset or empty,
    /// or names something this cannot reach (a `vsock:` address, a bad
    /// name: logged as the reason it was not used).
    pub fn from_env() -> Option<Notifier> {
        let value = std::env::var_os(ENV_NOTIFY_SOCKET)?;
        Notifier::new(value.to_str()?).ok()
    }

    /// A notifier for the socket `name` (a path, or `@name`).
    pub fn new(name: &str) -> std::io::Result<Notifier> {
        let addr = match name.strip_prefix('@') {
            Some(abs) => SocketAddr::from_abstract_name(abs.as_bytes())?,
            None if name.starts_with('/') => SocketAddr::from_pathname(name)?,
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("{ENV_NOTIFY_SOCKET}={name:?} is neither a path nor @name"),
                ));
            }
        };
        let socket = UnixDatagram::unbound()?;
        Ok(Notifier { socket, addr })
    }

    /// Sends `message` (`READY=1`, `STATUS=...\nEXTEND_TIMEOUT_USEC=...`).
    pub fn send(&self, message: &str) -> std::io::Result<()> {
        self.socket
            .send_to_addr(message.as_bytes(), &self.addr)
            .map(drop)
    }
}

/// Sends `message` to the socket in `NOTIFY_SOCKET`, if any; failures are
/// returned, an unset variable is not one.
pub fn notify(message: &str) -> std::io::Result<()> {
    match Notifier::from_env() {
        Some(n) => n.send(message),
        None => Ok(()),
    }
}

/// The engine's notifier, made on first use from `NOTIFY_SOCKET`. An
/// engine calls this before it leaves the host's network namespace: an
/// abstract socket is found in the namespace its sender was created in.
#[cfg(feature = "runtime")]
pub fn engine_notifier() -> Option<&'static Notifier> {
    static NOTIFIER: std::sync::OnceLock<Option<Notifier>> = std::sync::OnceLock::new();
    NOTIFIER.get_or_init(Notifier::from_env).as_ref()
}

/// Sends `message` with [`engine_notifier`], if there is one; a failure
/// is logged.
#[cfg(feature = "runtime")]
pub fn engine_notify(message: &str) {
    if let Some(n) = engine_notifier() {
        log_failure(n.send(message));
    }
}

/// An engine's `READY=1`, once its `apps` have started: with a status
/// line, and `MAINPID=` (this process: stage0 exec'd the engine, so it is
/// the unit's main PID already; said for clarity). A failure is logged.
#[cfg(feature = "runtime")]
pub fn pod_ready(apps: usize) {
    engine_notify(&format!(
        "READY=1\nSTATUS=running {apps} app(s)\nMAINPID={}",
        std::process::id()
    ));
}

/// An engine's `STOPPING=1`, sent once however often it is called.
#[cfg(feature = "runtime")]
pub fn pod_stopping() {
    static SENT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SENT.swap(true, std::sync::atomic::Ordering::Relaxed) {
        engine_notify("STOPPING=1");
    }
}

#[cfg(feature = "runtime")]
fn log_failure(r: std::io::Result<()>) {
    if let Err(e) = r {
        tracing::warn!("cannot notify the service manager: {e}");
    }
}

/// The keys an app may send through a relaying supervisor: readiness,
/// status and the watchdog; never `MAINPID` or descriptors.
pub const RELAYED_KEYS: [&str; 4] = ["READY", "STATUS", "WATCHDOG", "EXTEND_TIMEOUT_USEC"];

/// The lines of `datagram` an app may have relayed ([`RELAYED_KEYS`]).
pub fn relayable(datagram: &[u8]) -> String {
    let text = String::from_utf8_lossy(datagram);
    let mut out = String::new();
    for line in text.lines() {
        let key = line.split_once('=').map_or(line, |(k, _)| k);
        if RELAYED_KEYS.contains(&key) {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_and_abstract_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        Notifier::new(path.to_str().unwrap())
            .unwrap()
            .send("READY=1")
            .unwrap();
        let mut buf = [0u8; 64];
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");

        let name = format!("rukt-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let rx = UnixDatagram::bind_addr(&addr).unwrap();
        Notifier::new(&format!("@{name}"))
            .unwrap()
            .send("STOPPING=1")
            .unwrap();
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
        assert!(Notifier::new("vsock:2:3").is_err());
    }

    #[test]
    fn only_allowed_keys_are_relayed() {
        assert_eq!(
            relayable(b"READY=1\nMAINPID=7\nSTATUS=up\nFDSTORE=1\nWATCHDOG=1"),
            "READY=1\nSTATUS=up\nWATCHDOG=1"
        );
        assert_eq!(relayable(b"MAINPID=1"), "");
    }
}
