//! TLS trust per registry, in the containers/docker `certs.d` convention:
//! `DIR/HOST[:PORT]/*.crt` are CAs trusted for that registry besides the
//! system's, and `NAME.cert` with `NAME.key` a client certificate (mutual
//! TLS). DIR is the first of `<config dir>/certs.d`,
//! `/etc/containers/certs.d` and `/etc/docker/certs.d` that has a
//! directory for the host.

use std::path::{Path, PathBuf};

use tracing::debug;
use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

/// The system-wide `certs.d` directories, after `<config dir>/certs.d`.
pub const SYSTEM_CERTS_DIRS: [&str; 2] = ["/etc/containers/certs.d", "/etc/docker/certs.d"];

/// A `certs.d` directory that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// Reading failed.
    #[error("cannot read {path}")]
    Read {
        /// The file or directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not PEM of the expected kind.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// The `certs.d` directories looked in, in order.
pub fn certs_dirs(config_dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![config_dir.join("certs.d")];
    out.extend(SYSTEM_CERTS_DIRS.iter().map(PathBuf::from));
    out
}

/// What `certs.d` says for one host.
#[derive(Debug, Default)]
pub struct HostCerts {
    /// The directory read.
    pub dir: Option<PathBuf>,
    /// Extra CAs.
    pub cas: Vec<Certificate<'static>>,
    /// The client certificate chain and key.
    pub client: Option<ClientCert>,
}

impl HostCerts {
    /// Reads the first of `dirs` that has a directory for `host`.
    pub fn load(dirs: &[PathBuf], host: &str) -> Result<HostCerts, CertsError> {
        let Some(dir) = dirs.iter().map(|d| d.join(host)).find(|d| d.is_dir()) else {
            return Ok(HostCerts::default());
        };
        let read_err = |path: &Path| {
            let path = path.display().to_string();
            move |source| CertsError::Read { path, source }
        };
        let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(read_err(&dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        names.sort();
        let mut out = HostCerts {
            dir: Some(dir.clone()),
            ..HostCerts::default()
        };
        for path in &names {
            match path.extension().and_then(|e| e.to_str()) {
                Some("crt") => {
                    let data = std::fs::read(path).map_err(read_err(path))?;
                    out.cas.extend(certificates(path, &data)?);
                }
                Some("cert") if out.client.is_none() => {
                    let key = path.with_extension("key");
                    if !key.exists() {
                        return Err(CertsError::Invalid {
                            path: path.display().to_string(),
                            reason: format!("client certificate without its key {}", key.display()),
                        });
                    }
                    let chain = certificates(path, &std::fs::read(path).map_err(read_err(path))?)?;
                    let key_data = std::fs::read(&key).map_err(read_err(&key))?;
                    let key_pem =
                        PrivateKey::from_pem(&key_data).map_err(|e| CertsError::Invalid {
                            path: key.display().to_string(),
                            reason: format!("not a PEM private key: {e}"),
                        })?;
                    out.client = Some(ClientCert::new_with_certs(&chain, key_pem));
                }
                Some("key") if !path.with_extension("cert").exists() => {
                    return Err(CertsError::Invalid {
                        path: path.display().to_string(),
                        reason: format!(
                            "client key without its certificate {}",
                            path.with_extension("cert").display()
                        ),
                    });
                }
                _ => {}
            }
        }
        debug!(dir = %dir.display(), cas = out.cas.len(), client = out.client.is_some(), "certs.d");
        Ok(out)
    }

    /// Whether there is anything for the host.
    pub fn is_empty(&self) -> bool {
        self.cas.is_empty() && self.client.is_none()
    }

    /// The TLS configuration: the system roots plus these CAs, this client
    /// certificate; none of it verified when `verify` is false.
    pub fn tls_config(&self, verify: bool) -> TlsConfig {
        let roots = if self.cas.is_empty() {
            RootCerts::PlatformVerifier
        } else {
            let system = rustls_native_certs::load_native_certs();
            for e in &system.errors {
                debug!(error = %e, "cannot load a system root certificate");
            }
            let mut all: Vec<Certificate<'static>> = system
                .certs
                .iter()
                .map(|c| Certificate::from_der(c.as_ref()).to_owned())
                .collect();
            all.extend(self.cas.iter().cloned());
            RootCerts::from(all)
        };
        TlsConfig::builder()
            .root_certs(roots)
            .client_cert(self.client.clone())
            .disable_verification(!verify)
            .build()
    }
}

fn certificates(path: &Path, data: &[u8]) -> Result<Vec<Certificate<'static>>, CertsError> {
    let invalid = |reason: String| CertsError::Invalid {
        path: path.display().to_string(),
        reason,
    };
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(data) {
        match item.map_err(|e| invalid(format!("not PEM: {e}")))? {
            ureq::tls::PemItem::Certificate(c) => out.push(c),
            _ => continue,
        }
    }
    if out.is_empty() {
        return Err(invalid("no PEM certificate in it".into()));
    }
    Ok(out)
}

/// What a TLS failure most likely means, for the error message.
pub fn hint(chain: &str) -> Option<&'static str> {
    if chain.contains("CertificateRequired") || chain.contains("BadCertificate") {
        Some(
            "the registry asks for a client certificate: put client.cert and client.key in certs.d/HOST",
        )
    } else if chain.contains("certificate") {
        Some(
            "the registry's certificate cannot be verified: put its CA in certs.d/HOST/ca.crt, or mark the registry insecure in registries.conf",
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_directory_means_nothing_to_add() {
        let dir = tempfile::tempdir().unwrap();
        let c = HostCerts::load(&[dir.path().to_path_buf()], "h:1").unwrap();
        assert!(c.is_empty() && c.dir.is_none());
    }

    #[test]
    fn a_key_without_certificate_and_junk_crt_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("h:1")).unwrap();
        std::fs::write(dir.path().join("h:1/client.key"), "x").unwrap();
        let e = HostCerts::load(&[dir.path().to_path_buf()], "h:1").unwrap_err();
        assert!(
            e.to_string().contains("client key without its certificate"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("h:1/client.key")).unwrap();
        std::fs::write(dir.path().join("h:1/ca.crt"), "junk").unwrap();
        let e = HostCerts::load(&[dir.path().to_path_buf()], "h:1").unwrap_err();
        assert!(e.to_string().contains("ca.crt"), "{e}");
    }
}
