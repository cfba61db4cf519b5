//! Where the service listens: `--listen unix:PATH` / `tcp:ADDR:PORT`
//! (loopback only: the API has no TLS and no authentication), or the
//! sockets systemd passes (`LISTEN_FDS`), never both. A unix socket is made
//! `0660` (its group, the `rukt` group, is who may call the service).

use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// A listening address from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// A unix socket path.
    Unix(PathBuf),
    /// A loopback TCP address.
    Tcp(SocketAddr),
}

impl std::str::FromStr for Addr {
    type Err = String;
    fn from_str(s: &str) -> Result<Addr, String> {
        if let Some(p) = s.strip_prefix("unix:") {
            if !p.starts_with('/') {
                return Err(format!("{p:?} is not an absolute path"));
            }
            return Ok(Addr::Unix(PathBuf::from(p)));
        }
        let a = s.strip_prefix("tcp:").unwrap_or(s);
        let addr: SocketAddr = a
            .parse()
            .map_err(|_| format!("{a:?} is not unix:PATH or tcp:IP:PORT"))?;
        if !addr.ip().is_loopback() {
            return Err(format!(
                "{addr} is not a loopback address (the API has no TLS or authentication)"
            ));
        }
        Ok(Addr::Tcp(addr))
    }
}

/// A bound listener.
pub enum Listener {
    /// Unix.
    Unix(UnixListener),
    /// TCP.
    Tcp(TcpListener),
}

/// Binds a unix socket at `path` with mode 0660 (a stale one replaced).
fn bind_unix(path: &Path) -> Result<UnixListener> {
    Ok(rukt_sys::socket::bind_unix(path, 0o660)?)
}

/// Binds every address.
pub fn bind(addrs: &[Addr]) -> Result<Vec<Listener>> {
    addrs
        .iter()
        .map(|a| match a {
            Addr::Unix(p) => bind_unix(p).map(Listener::Unix),
            Addr::Tcp(t) => TcpListener::bind(t)
                .map(Listener::Tcp)
                .with_context(|| format!("cannot listen on {t}")),
        })
        .collect()
}

/// The sockets systemd passed this process (`LISTEN_PID`/`LISTEN_FDS`), if any.
pub fn from_systemd() -> Result<Vec<Listener>> {
    let pid = std::env::var("LISTEN_PID").ok();
    let Some(n) = std::env::var("LISTEN_FDS").ok() else {
        return Ok(Vec::new());
    };
    if pid.as_deref() != Some(&std::process::id().to_string()) {
        return Ok(Vec::new());
    }
    let n: i32 = n.parse().context("LISTEN_FDS is not a number")?;
    let mut out = Vec::new();
    for fd in 3..3 + n {
        // SAFETY: sd_listen_fds(3): descriptors 3..3+LISTEN_FDS are open
        // sockets passed to this process alone; each is owned once, here.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let unix = UnixListener::from(owned);
        if unix.local_addr().is_ok() {
            out.push(Listener::Unix(unix));
        } else {
            out.push(Listener::Tcp(TcpListener::from(OwnedFd::from(unix))));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_tcp_is_loopback_only() {
        assert_eq!(
            "unix:/run/rukt/api.sock".parse::<Addr>(),
            Ok(Addr::Unix("/run/rukt/api.sock".into()))
        );
        assert!(matches!(
            "tcp:127.0.0.1:15441".parse::<Addr>(),
            Ok(Addr::Tcp(_))
        ));
        assert!(matches!("[::1]:15441".parse::<Addr>(), Ok(Addr::Tcp(_))));
        assert!(
            "tcp:0.0.0.0:15441"
                .parse::<Addr>()
                .unwrap_err()
                .contains("loopback")
        );
        assert!("unix:rel".parse::<Addr>().is_err());
    }
}
