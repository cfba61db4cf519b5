//! rkt's `rukt trust` keys, as a second source of the one policy: a key
//! stored for a prefix (`trustedkeys/prefix.d/<prefix>/<fingerprint>`)
//! becomes a `docker` scope for that prefix, requiring a signature by the
//! prefix's keys (`signedBy` for OpenPGP keys, `sigstoreSigned` for PEM
//! public keys) with the default identity rule; `root.d` keys become the
//! `docker` transport's default. Scopes match by path component.

use std::path::{Path, PathBuf};

use super::file::Requirement;

/// What kind of key a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An OpenPGP public key (simple signing).
    OpenPgp,
    /// A PEM P-256 public key (sigstore).
    Sigstore,
}

impl KeyKind {
    /// The name shown to users.
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::OpenPgp => "openpgp",
            KeyKind::Sigstore => "sigstore",
        }
    }

    /// Tells the kind from the key's bytes.
    pub fn of(data: &[u8]) -> KeyKind {
        if data
            .trim_ascii_start()
            .starts_with(b"-----BEGIN PUBLIC KEY-----")
        {
            KeyKind::Sigstore
        } else {
            KeyKind::OpenPgp
        }
    }
}

/// One stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    /// The prefix, `None` for a root key.
    pub prefix: Option<String>,
    /// Its fingerprint (the file name).
    pub fingerprint: String,
    /// Its kind.
    pub kind: KeyKind,
    /// The file.
    pub path: PathBuf,
}

/// Why a trust operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// Reading or writing the store failed.
    #[error("cannot access {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The key or prefix is unusable.
    #[error("{0}")]
    Invalid(String),
}

/// The trusted-keys directory under a configuration directory.
#[derive(Debug, Clone)]
pub struct Keystore {
    root: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeystoreError + '_ {
    move |source| KeystoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The file a key is stored in: its fingerprint, `SHA256:` written
/// `SHA256-` (sigstore keys).
fn file_name(fingerprint: &str) -> String {
    fingerprint.replace(':', "-")
}

/// Fingerprints of the key(s) in `data`, with their kind.
pub fn inspect_key(data: &[u8]) -> Result<(KeyKind, Vec<String>), String> {
    let kind = KeyKind::of(data);
    let fprs = match kind {
        KeyKind::OpenPgp => super::openpgp::Keyring::parse(data)?.fingerprints(),
        KeyKind::Sigstore => super::cosign::Keys::parse(data)?.fingerprints(),
    };
    Ok((kind, fprs))
}

impl Keystore {
    /// The store under `config_dir/trustedkeys`.
    pub fn new(config_dir: &Path) -> Keystore {
        Keystore {
            root: config_dir.join("trustedkeys"),
        }
    }

    fn dir_for(&self, prefix: Option<&str>) -> PathBuf {
        match prefix {
            Some(p) => self.root.join("prefix.d").join(p),
            None => self.root.join("root.d"),
        }
    }

    /// Checks a prefix as a docker scope (a host, namespace or repository).
    pub fn check_prefix(prefix: &str) -> Result<(), KeystoreError> {
        super::scope::check_docker_scope(prefix)
            .map_err(|e| KeystoreError::Invalid(format!("invalid prefix {prefix:?}: {e}")))?;
        if prefix.starts_with("*.")
            || prefix.contains(['@'])
            || prefix.split('/').any(|c| c == "..")
        {
            return Err(KeystoreError::Invalid(format!(
                "invalid prefix {prefix:?}: a host, namespace or repository"
            )));
        }
        Ok(())
    }

    /// Stores a key for `prefix` (or as a root key); one kind per prefix.
    pub fn add(&self, prefix: Option<&str>, data: &[u8]) -> Result<TrustedKey, KeystoreError> {
        if let Some(p) = prefix {
            Self::check_prefix(p)?;
        }
        let (kind, fprs) = inspect_key(data).map_err(KeystoreError::Invalid)?;
        if fprs.len() != 1 {
            return Err(KeystoreError::Invalid(format!(
                "the file holds {} keys; trust one key at a time",
                fprs.len()
            )));
        }
        let fingerprint = fprs[0].clone();
        if let Some(other) = self
            .list()?
            .into_iter()
            .find(|k| k.prefix.as_deref() == prefix && k.kind != kind)
        {
            return Err(KeystoreError::Invalid(format!(
                "{} already has {} keys ({}); one kind of key per prefix",
                prefix.unwrap_or("the root"),
                other.kind.name(),
                other.fingerprint
            )));
        }
        let dir = self.dir_for(prefix);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(file_name(&fingerprint));
        rukt_sys::atomic::write_atomic(&path, data).map_err(io(&path))?;
        Ok(TrustedKey {
            prefix: prefix.map(str::to_string),
            fingerprint,
            kind,
            path,
        })
    }

    /// Removes a key by fingerprint (from every prefix when `prefix` is
    /// `None` and `root` is false); returns what was removed.
    pub fn remove(
        &self,
        fingerprint: &str,
        prefix: Option<&str>,
        root: bool,
    ) -> Result<Vec<TrustedKey>, KeystoreError> {
        let wanted = file_name(fingerprint).to_ascii_uppercase();
        let gone: Vec<TrustedKey> = self
            .list()?
            .into_iter()
            .filter(|k| file_name(&k.fingerprint).to_ascii_uppercase() == wanted)
            .filter(|k| match (prefix, root) {
                (Some(p), _) => k.prefix.as_deref() == Some(p),
                (None, true) => k.prefix.is_none(),
                (None, false) => true,
            })
            .collect();
        if gone.is_empty() {
            return Err(KeystoreError::Invalid(format!(
                "no trusted key {fingerprint}"
            )));
        }
        for k in &gone {
            std::fs::remove_file(&k.path).map_err(io(&k.path))?;
        }
        Ok(gone)
    }

    /// Every stored key, root keys first.
    pub fn list(&self) -> Result<Vec<TrustedKey>, KeystoreError> {
        let mut out = Vec::new();
        self.walk(&self.root.join("root.d"), None, false, &mut out)?;
        self.walk(
            &self.root.join("prefix.d"),
            Some(String::new()),
            true,
            &mut out,
        )?;
        Ok(out)
    }

    fn walk(
        &self,
        dir: &Path,
        prefix: Option<String>,
        recurse: bool,
        out: &mut Vec<TrustedKey>,
    ) -> Result<(), KeystoreError> {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(dir)(e)),
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let ft = e.file_type().map_err(io(&path))?;
            if ft.is_dir() && recurse {
                let sub = match &prefix {
                    Some(p) if !p.is_empty() => format!("{p}/{name}"),
                    _ => name,
                };
                self.walk(&path, Some(sub), true, out)?;
            } else if ft.is_file() && !name.starts_with('.') {
                if prefix.as_deref() == Some("") {
                    continue;
                }
                let data = std::fs::read(&path).map_err(io(&path))?;
                out.push(TrustedKey {
                    prefix: prefix.clone(),
                    fingerprint: name.replacen("SHA256-", "SHA256:", 1),
                    kind: KeyKind::of(&data),
                    path,
                });
            }
        }
        Ok(())
    }

    /// The scopes the stored keys define: `(None, _)` is the docker
    /// transport's default (root keys).
    pub fn scopes(&self) -> Result<Vec<(Option<String>, Requirement)>, KeystoreError> {
        let mut by_prefix: std::collections::BTreeMap<Option<String>, (KeyKind, Vec<PathBuf>)> =
            Default::default();
        for k in self.list()? {
            by_prefix
                .entry(k.prefix.clone())
                .or_insert_with(|| (k.kind, Vec::new()))
                .1
                .push(k.path);
        }
        Ok(by_prefix
            .into_iter()
            .map(|(p, (kind, paths))| {
                let req = match kind {
                    KeyKind::OpenPgp => Requirement::SignedBy {
                        key_type: "GPGKeys".into(),
                        key_path: None,
                        key_paths: Some(paths),
                        key_data: None,
                        signed_identity: None,
                    },
                    KeyKind::Sigstore => Requirement::SigstoreSigned {
                        key_path: None,
                        key_paths: Some(paths),
                        key_data: None,
                        key_datas: None,
                        fulcio: None,
                        pki: None,
                        rekor_public_key_path: None,
                        rekor_public_key_paths: None,
                        rekor_public_key_data: None,
                        rekor_public_key_datas: None,
                        signed_identity: None,
                    },
                };
                (p, req)
            })
            .collect())
    }
}
