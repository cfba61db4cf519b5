//! `registries.d/*.yaml` (containers-registries.d(5)): where a registry's
//! signatures are found. `lookaside` (or its old name `sigstore`) is the
//! base URL of OpenPGP simple signatures, `file://` or `https://`;
//! `use-sigstore-attachments` turns on `sha256-<hex>.sig` attachments.
//! Parsed strictly; a scope defined twice (in one file or two) is refused.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::digest::Digest;
use crate::reference::RegistryRef;

/// Where one scope's signatures are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SignatureStorage {
    /// Base URL to read simple signatures from.
    #[serde(default)]
    pub lookaside: Option<String>,
    /// Where `skopeo --sign-by` writes (not read by rukt).
    #[serde(default)]
    pub lookaside_staging: Option<String>,
    /// The old name of `lookaside`.
    #[serde(default)]
    pub sigstore: Option<String>,
    /// The old name of `lookaside-staging`.
    #[serde(default)]
    pub sigstore_staging: Option<String>,
    /// Read (and let tools write) sigstore attachments.
    #[serde(default)]
    pub use_sigstore_attachments: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileDoc {
    #[serde(default)]
    default_docker: Option<SignatureStorage>,
    #[serde(default)]
    docker: BTreeMap<String, SignatureStorage>,
}

/// Every file of a registries.d directory, merged.
#[derive(Debug, Clone, Default)]
pub struct RegistriesD {
    default_docker: Option<SignatureStorage>,
    docker: BTreeMap<String, SignatureStorage>,
}

/// Why a registries.d directory is refused.
#[derive(Debug, thiserror::Error)]
#[error("invalid registries.d file {path}: {reason}")]
pub struct RegistriesDError {
    /// The file (or directory).
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

impl RegistriesD {
    /// Reads every `*.yaml` in `dir`; a missing directory is empty.
    pub fn load(dir: &Path) -> Result<RegistriesD, RegistriesDError> {
        let err = |path: &Path, reason: String| RegistriesDError {
            path: path.to_path_buf(),
            reason,
        };
        let mut out = RegistriesD::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(err(dir, e.to_string())),
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| err(&f, e.to_string()))?;
            out.add(&text).map_err(|r| err(&f, r))?;
        }
        Ok(out)
    }

    /// Adds one file's text.
    pub fn add(&mut self, text: &str) -> Result<(), String> {
        let doc: FileDoc = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        if let Some(d) = doc.default_docker {
            if self.default_docker.is_some() {
                return Err("default-docker is defined in more than one file".into());
            }
            check(&d)?;
            self.default_docker = Some(d);
        }
        for (scope, s) in doc.docker {
            super::scope::check_docker_scope(&scope)
                .map_err(|e| format!("scope {scope:?}: {e}"))?;
            check(&s).map_err(|e| format!("scope {scope:?}: {e}"))?;
            if self.docker.insert(scope.clone(), s).is_some() {
                return Err(format!("scope {scope:?} is defined in more than one file"));
            }
        }
        Ok(())
    }

    /// The storage for a reference: the most specific scope, else
    /// `default-docker`.
    pub fn storage_for(&self, r: &RegistryRef) -> SignatureStorage {
        super::scope::docker_candidates(r)
            .iter()
            .find_map(|c| self.docker.get(c))
            .or(self.default_docker.as_ref())
            .cloned()
            .unwrap_or_default()
    }
}

fn check(s: &SignatureStorage) -> Result<(), String> {
    if s.lookaside.is_some() && s.sigstore.is_some() {
        return Err("both lookaside and its old name sigstore".into());
    }
    if let Some(u) = s.lookaside.as_ref().or(s.sigstore.as_ref())
        && !(u.starts_with("file:///") || u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(format!(
            "lookaside {u:?} is not a file:///, https:// or http:// URL"
        ));
    }
    Ok(())
}

impl SignatureStorage {
    /// The lookaside base URL, if any.
    pub fn lookaside(&self) -> Option<&str> {
        self.lookaside.as_deref().or(self.sigstore.as_deref())
    }

    /// Whether sigstore attachments are read.
    pub fn attachments(&self) -> bool {
        self.use_sigstore_attachments.unwrap_or(false)
    }
}

/// The URL of signature number `n` (from 1) of `digest` in a lookaside:
/// `<base>/<repository>@<alg>=<hex>/signature-<n>`. The digest is a
/// validated [`Digest`], so it cannot traverse out of the base.
pub fn lookaside_url(base: &str, r: &RegistryRef, digest: &Digest, n: usize) -> String {
    format!(
        "{}/{}@{}={}/signature-{n}",
        base.trim_end_matches('/'),
        r.repository,
        digest.algorithm().name(),
        digest.hex()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_specific_scope_wins_and_duplicates_are_refused() {
        let mut d = RegistriesD::default();
        d.add("default-docker:\n  lookaside: file:///d\ndocker:\n  a.io/team:\n    lookaside: https://s.example/t\n    use-sigstore-attachments: true\n").unwrap();
        let r = RegistryRef::parse("a.io/team/app:v1").unwrap();
        assert_eq!(d.storage_for(&r).lookaside(), Some("https://s.example/t"));
        assert!(d.storage_for(&r).attachments());
        let other = RegistryRef::parse("a.io/teamx/app:v1").unwrap();
        assert_eq!(d.storage_for(&other).lookaside(), Some("file:///d"));
        assert!(
            d.add("docker:\n  a.io/team:\n    lookaside: file:///x\n")
                .is_err()
        );
        assert!(
            d.add("docker:\n  b.io:\n    lookasid: file:///x\n")
                .unwrap_err()
                .contains("lookasid")
        );
        let dg: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        assert_eq!(
            lookaside_url("file:///l/", &r, &dg, 1),
            "file:///l/team/app@sha256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/signature-1"
        );
        assert!("sha256:../../etc".parse::<Digest>().is_err());
    }
}
