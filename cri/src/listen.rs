//! Where `rukt-cri` listens: a unix socket named as kubelet names it
//! (`unix:///run/rukt/cri.sock`), its parent directory made `0750` when
//! missing, the socket `0660`, a stale one replaced.

use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use anyhow::{Context, Result};

/// A `--listen` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr(pub PathBuf);

impl std::str::FromStr for Addr {
    type Err = String;
    fn from_str(s: &str) -> Result<Addr, String> {
        let p = s
            .strip_prefix("unix://")
            .or_else(|| s.strip_prefix("unix:"))
            .unwrap_or(s);
        if !p.starts_with('/') {
            return Err(format!(
                "{s:?} is not unix:///ABSOLUTE/PATH (the CRI is served on a unix socket only)"
            ));
        }
        Ok(Addr(PathBuf::from(p)))
    }
}

/// Binds the socket, making its directory first.
pub fn bind(addr: &Addr) -> Result<UnixListener> {
    if let Some(parent) = addr.0.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let l = rukt_sys::socket::bind_unix(&addr.0, 0o660)?;
    tracing::info!("listening on unix://{}", addr.0.display());
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubelet_spellings_parse_and_relative_paths_do_not() {
        for s in [
            "unix:///run/rukt/cri.sock",
            "unix:/run/rukt/cri.sock",
            "/run/rukt/cri.sock",
        ] {
            assert_eq!(s.parse::<Addr>(), Ok(Addr("/run/rukt/cri.sock".into())));
        }
        assert!("unix://run/x".parse::<Addr>().is_err());
        assert!("tcp:127.0.0.1:1".parse::<Addr>().is_err());
    }
}
