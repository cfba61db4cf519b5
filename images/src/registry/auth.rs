//! Registry credentials: looked up per host through the auth files in
//! order (see [`super::authfile`]), asking credential helpers where a file
//! names one, and remembered with where they came from, so that an error
//! can say which source was used (never the secret).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use tracing::debug;

use super::authfile::{self, AuthFile, AuthFileError, FileAnswer};
use super::credhelper::{self, HelperAnswer, HelperError};

/// What proves who the user is.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// A password (or a personal access token used as one).
    Password(String),
    /// An OAuth2 refresh token (docker's `identitytoken`).
    IdentityToken(String),
}

/// A credential for one host and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// User name (may be empty with an identity token).
    pub username: String,
    /// Password or identity token.
    pub secret: Secret,
    /// Where it was found, for messages: a file, or a helper and its file.
    pub source: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Credential({}, <redacted>, from {})",
            self.username, self.source
        )
    }
}

impl Credential {
    /// A user name and password given directly (`rukt login`).
    pub fn password(username: &str, password: &str, source: &str) -> Credential {
        Credential {
            username: username.to_string(),
            secret: Secret::Password(password.to_string()),
            source: source.to_string(),
        }
    }

    /// The `Authorization: Basic` value; `None` for an identity token,
    /// which only a token server takes.
    pub fn basic(&self) -> Option<String> {
        let Secret::Password(p) = &self.secret else {
            return None;
        };
        let raw = format!("{}:{p}", self.username);
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }
}

/// Why credentials could not be looked up.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// An auth file is unreadable or malformed.
    #[error(transparent)]
    File(#[from] AuthFileError),
    /// A credential helper failed.
    #[error(transparent)]
    Helper(#[from] HelperError),
    /// An auth file found when loading was unreadable or malformed (the
    /// message names it).
    #[error("{0}")]
    Unusable(String),
}

/// The credential sources, read once; hosts are looked up on demand.
#[derive(Debug, Default)]
pub struct Credentials {
    /// Each file of the search path that exists, or why it is unusable.
    files: Vec<Result<AuthFile, String>>,
    searched: Vec<PathBuf>,
    /// Credentials given directly, before any file.
    given: HashMap<String, Credential>,
}

impl Credentials {
    /// Reads the search path's files (see [`authfile::search_path`]); a
    /// malformed one is an error when a lookup reaches it.
    pub fn load(config_dir: &Path) -> Credentials {
        Credentials::from_paths(authfile::search_path(config_dir))
    }

    /// Reads these files, in this lookup order.
    pub fn from_paths(paths: Vec<PathBuf>) -> Credentials {
        let files = paths
            .iter()
            .filter_map(|p| {
                AuthFile::read(p)
                    .map_err(|e| super::error::error_chain(&e))
                    .transpose()
            })
            .collect();
        Credentials {
            files,
            searched: paths,
            given: HashMap::new(),
        }
    }

    /// Uses `cred` for `host` before any file (to check a login).
    pub fn with(mut self, host: &str, cred: Credential) -> Credentials {
        self.given.insert(authfile::normalise_key(host), cred);
        self
    }

    /// The files looked in, for messages.
    pub fn searched(&self) -> String {
        self.searched
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The credential for `host`: the first source with an answer.
    pub fn get(&self, host: &str) -> Result<Option<Credential>, CredentialError> {
        let key = authfile::normalise_key(host);
        if let Some(c) = self.given.get(&key) {
            return Ok(Some(c.clone()));
        }
        for file in &self.files {
            let file = file
                .as_ref()
                .map_err(|e| CredentialError::Unusable(e.clone()))?;
            if let Some(c) = from_file(file, &key)? {
                debug!(host, source = %c.source, "using registry credentials");
                return Ok(Some(c));
            }
        }
        Ok(None)
    }
}

/// What `file` gives for `host`, asking its helper if it names one (a
/// `credsStore` that does not know the host falls back to `auths`).
fn from_file(file: &AuthFile, host: &str) -> Result<Option<Credential>, CredentialError> {
    let path = file.path.display().to_string();
    let answer = match file.lookup(host)? {
        Some(FileAnswer::Helper { name, store }) => {
            let source = format!("credential helper docker-credential-{name} (named in {path})");
            match credhelper::get(&name, &path, host)? {
                Some(HelperAnswer::Password(u, p)) => Some((u, Secret::Password(p), source)),
                Some(HelperAnswer::IdentityToken(t)) => {
                    Some((String::new(), Secret::IdentityToken(t), source))
                }
                None if store => entry(file.entry(host)?, &path),
                None => None,
            }
        }
        other => entry(other, &path),
    };
    Ok(answer.map(|(username, secret, source)| Credential {
        username,
        secret,
        source,
    }))
}

fn entry(answer: Option<FileAnswer>, path: &str) -> Option<(String, Secret, String)> {
    match answer? {
        FileAnswer::Password(u, p) => Some((u, Secret::Password(p), path.to_string())),
        FileAnswer::IdentityToken(u, t) => Some((
            u,
            Secret::IdentityToken(t),
            format!("the identity token in {path}"),
        )),
        FileAnswer::Helper { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_host_is_looked_up_through_the_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first.json");
        let second = dir.path().join("second.json");
        std::fs::write(&first, r#"{"auths":{"a:1":{"auth":"dTE6cDE="}}}"#).unwrap();
        std::fs::write(
            &second,
            r#"{"auths":{"a:1":{"auth":"dTI6cDI="},"b:1":{"auth":"dTI6cDI="}}}"#,
        )
        .unwrap();
        let creds = Credentials::from_paths(vec![
            dir.path().join("missing.json"),
            first.clone(),
            second.clone(),
        ]);
        let a = creds.get("a:1").unwrap().unwrap();
        assert_eq!(
            (a.username.as_str(), a.source.clone()),
            ("u1", first.display().to_string())
        );
        let b = creds.get("b:1").unwrap().unwrap();
        assert_eq!(
            (b.username.as_str(), b.source.clone()),
            ("u2", second.display().to_string())
        );
        assert_eq!(b.basic().unwrap(), "Basic dTI6cDI=");
        assert!(creds.get("c:1").unwrap().is_none());
    }

    #[test]
    fn a_malformed_file_fails_the_lookup_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        let creds = Credentials::from_paths(vec![bad.clone()]);
        let e = creds.get("a:1").unwrap_err().to_string();
        assert!(e.contains(&bad.display().to_string()), "{e}");
        assert!(
            format!(
                "{:?}",
                creds
                    .with("a:1", Credential::password("u", "secret", "x"))
                    .get("a:1")
                    .unwrap()
            )
            .contains("<redacted>")
        );
    }
}
