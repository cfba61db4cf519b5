//! Where the TPM is, TCTI-style (as tpm2-tools spell it): the kernel's
//! resource manager `device:/dev/tpmrm0` (the default) or a TCP simulator
//! `swtpm:host=127.0.0.1,port=2321`, and the byte transport to it. A
//! command is written whole and its response read whole; no daemon.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

/// The default TCTI.
pub const DEFAULT_TCTI: &str = "device:/dev/tpmrm0";

/// The largest response we accept (TPM2 responses are a few KiB).
const MAX_RESPONSE: usize = 64 * 1024;
/// How long one command may take before the TPM is deemed gone.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A parsed TCTI setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tcti {
    /// A character device taking raw commands (`/dev/tpmrm0`).
    Device(PathBuf),
    /// swtpm's TCP data port (raw commands, no framing).
    Swtpm {
        /// Host name or address.
        host: String,
        /// Data port.
        port: u16,
    },
}

/// A TCTI string that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid TCTI {0:?}: expected device[:PATH] or swtpm[:host=HOST,port=PORT]")]
pub struct TctiError(pub String);

impl std::str::FromStr for Tcti {
    type Err = TctiError;
    fn from_str(s: &str) -> Result<Tcti, TctiError> {
        let bad = || TctiError(s.to_string());
        let (kind, conf) = s.split_once(':').unwrap_or((s, ""));
        match kind {
            "device" if conf.is_empty() => Ok(Tcti::Device("/dev/tpmrm0".into())),
            "device" if conf.starts_with('/') => Ok(Tcti::Device(conf.into())),
            "swtpm" => {
                let (mut host, mut port) = ("127.0.0.1".to_string(), 2321u16);
                for kv in conf.split(',').filter(|kv| !kv.is_empty()) {
                    match kv.split_once('=') {
                        Some(("host", h)) if !h.is_empty() => host = h.to_string(),
                        Some(("port", p)) => port = p.parse().map_err(|_| bad())?,
                        _ => return Err(bad()),
                    }
                }
                Ok(Tcti::Swtpm { host, port })
            }
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for Tcti {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tcti::Device(p) => write!(f, "device:{}", p.display()),
            Tcti::Swtpm { host, port } => write!(f, "swtpm:host={host},port={port}"),
        }
    }
}

/// An open connection to a TPM.
#[derive(Debug)]
pub(crate) enum Transport {
    Device(std::fs::File),
    Tcp(TcpStream),
}

impl Transport {
    /// Opens the TPM `tcti` names.
    pub(crate) fn open(tcti: &Tcti) -> std::io::Result<Transport> {
        match tcti {
            Tcti::Device(p) => std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(p)
                .map(Transport::Device),
            Tcti::Swtpm { host, port } => {
                let addr = (host.as_str(), *port)
                    .to_socket_addrs()?
                    .next()
                    .ok_or_else(|| std::io::Error::other(format!("{host} has no address")))?;
                let s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                s.set_write_timeout(Some(IO_TIMEOUT))?;
                s.set_nodelay(true)?;
                Ok(Transport::Tcp(s))
            }
        }
    }

    /// Sends one command and returns its whole response.
    pub(crate) fn transact(&mut self, cmd: &[u8]) -> std::io::Result<Vec<u8>> {
        match self {
            Transport::Device(f) => {
                f.write_all(cmd)?;
                // The driver hands over the whole response in one read.
                let mut buf = vec![0; MAX_RESPONSE];
                let n = f.read(&mut buf)?;
                buf.truncate(n);
                Ok(buf)
            }
            Transport::Tcp(s) => {
                s.write_all(cmd)?;
                let mut head = [0u8; 10];
                s.read_exact(&mut head)?;
                let size = u32::from_be_bytes([head[2], head[3], head[4], head[5]]) as usize;
                if !(10..=MAX_RESPONSE).contains(&size) {
                    return Err(std::io::Error::other(format!(
                        "response of {size} bytes from the TPM"
                    )));
                }
                let mut buf = head.to_vec();
                buf.resize(size, 0);
                s.read_exact(&mut buf[10..])?;
                Ok(buf)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tcti_strings() {
        let t: Tcti = "swtpm:host=127.0.0.1,port=4321".parse().unwrap();
        assert_eq!(
            t,
            Tcti::Swtpm {
                host: "127.0.0.1".into(),
                port: 4321
            }
        );
        assert_eq!(t.to_string().parse::<Tcti>().unwrap(), t);
        assert_eq!(
            "device".parse::<Tcti>().unwrap(),
            Tcti::Device("/dev/tpmrm0".into())
        );
        assert_eq!(
            "device:/dev/tpm0".parse::<Tcti>().unwrap(),
            Tcti::Device("/dev/tpm0".into())
        );
        for bad in [
            "mssim:port=1",
            "swtpm:port=x",
            "swtpm:colour=red",
            "device:rel",
        ] {
            assert!(bad.parse::<Tcti>().is_err(), "{bad}");
        }
    }
}
