//! Host port reservations, one file per published port in the store
//! (`<store>/net/ports/<protocol>-<port>`, holding the pod's UUID), made
//! by stage0 under a lock before a pod exists: a port another live pod
//! publishes is refused before anything is created. A reservation whose pod
//! is gone or exited is taken over; a pod's are released when its network
//! is torn down and again when it is garbage collected.

use std::io;
use std::path::{Path, PathBuf};

use rukt_contract::{PortMapping, STORE_NET_DIR};
use rukt_sys::lock::{FileLock, LockMode};

/// Why ports could not be reserved.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Another live pod publishes it.
    #[error("host port {port}/{protocol} is already published by pod {holder}")]
    Taken {
        /// The port.
        port: u16,
        /// `tcp` or `udp`.
        protocol: &'static str,
        /// The pod publishing it.
        holder: String,
    },
    /// Published twice by the same pod.
    #[error("host port {port}/{protocol} is published twice")]
    Twice {
        /// The port.
        port: u16,
        /// `tcp` or `udp`.
        protocol: &'static str,
    },
    /// The reservations could not be read or written.
    #[error("cannot reserve host ports in {}", dir.display())]
    Io {
        /// The directory.
        dir: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// `<store>/net/ports`.
pub fn dir(store_root: &Path) -> PathBuf {
    store_root.join(STORE_NET_DIR).join("ports")
}

fn file_name(p: &PortMapping) -> String {
    format!("{}-{}", p.protocol.name(), p.host_port)
}

/// Reserves every port of `ports` for pod `uuid`, or none of them.
/// `is_live(uuid)` tells whether another holder still needs its port.
pub fn reserve(
    store_root: &Path,
    uuid: &str,
    ports: &[PortMapping],
    is_live: impl Fn(&str) -> bool,
) -> Result<(), PortError> {
    if ports.is_empty() {
        return Ok(());
    }
    let d = dir(store_root);
    let io_err = |source| PortError::Io {
        dir: d.clone(),
        source,
    };
    std::fs::create_dir_all(&d).map_err(io_err)?;
    let _lock = FileLock::acquire(&d.join(".lock"), LockMode::Exclusive).map_err(io_err)?;
    let mut seen = std::collections::HashSet::new();
    for p in ports {
        if !seen.insert(file_name(p)) {
            return Err(PortError::Twice {
                port: p.host_port,
                protocol: p.protocol.name(),
            });
        }
        match std::fs::read_to_string(d.join(file_name(p))) {
            Ok(holder) if holder != uuid && is_live(&holder) => {
                return Err(PortError::Taken {
                    port: p.host_port,
                    protocol: p.protocol.name(),
                    holder,
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    for p in ports {
        rukt_sys::atomic::write_atomic(&d.join(file_name(p)), uuid.as_bytes()).map_err(io_err)?;
    }
    Ok(())
}

/// Releases every reservation pod `uuid` holds; nothing held is fine.
pub fn release(store_root: &Path, uuid: &str) -> io::Result<()> {
    let d = dir(store_root);
    let entries = match std::fs::read_dir(&d) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let _lock = FileLock::acquire(&d.join(".lock"), LockMode::Exclusive)?;
    for e in entries.flatten() {
        let path = e.path();
        if path.file_name().is_some_and(|n| n == ".lock") {
            continue;
        }
        if std::fs::read_to_string(&path).is_ok_and(|h| h == uuid) {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rukt_contract::Protocol;

    fn port(n: u16, protocol: Protocol) -> PortMapping {
        PortMapping {
            protocol,
            host_port: n,
            pod_port: 80,
            host_ip: None,
        }
    }

    #[test]
    fn reserve_refuse_take_over_release() {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path();
        let a = [port(8080, Protocol::Tcp), port(8080, Protocol::Udp)];
        reserve(store, "pod-a", &a, |_| true).unwrap();
        // Again by the same pod: fine.
        reserve(store, "pod-a", &a, |_| true).unwrap();
        let b = [port(9090, Protocol::Tcp), port(8080, Protocol::Tcp)];
        let e = reserve(store, "pod-b", &b, |_| true)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "host port 8080/tcp is already published by pod pod-a");
        // Nothing of b was reserved.
        assert!(!dir(store).join("tcp-9090").exists());
        // A dead holder's port is taken over.
        reserve(store, "pod-b", &b, |h| h != "pod-a").unwrap();
        release(store, "pod-b").unwrap();
        let left: Vec<_> = std::fs::read_dir(dir(store))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n != ".lock")
            .collect();
        assert_eq!(left, ["udp-8080"]);
        let twice = [port(1, Protocol::Tcp), port(1, Protocol::Tcp)];
        assert!(matches!(
            reserve(store, "c", &twice, |_| true),
            Err(PortError::Twice { .. })
        ));
        release(tmp.path().join("none").as_path(), "x").unwrap();
    }
}
