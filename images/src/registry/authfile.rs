//! The auth files podman and docker write (`auth.json`, `config.json`):
//! where rukt looks for them, what one file says about a host, and the
//! edits `rukt login`/`rukt logout` make (the same format, mode 0600).
//!
//! The files, in the order each host is looked up (the first file with an
//! answer for that host wins; a file without one does not hide the next):
//! `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `<config dir>/auth.json`, `~/.config/containers/auth.json`,
//! `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`.

use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// An auth file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    /// Reading failed (other than not existing).
    #[error("cannot read the auth file {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not JSON of the auth file's shape.
    #[error("malformed auth file {path}: {reason}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's complaint.
        reason: String,
    },
    /// An entry's `auth` is not base64 of `user:password`.
    #[error("malformed auth file {path}: the \"auth\" of {key:?} is not base64 of user:password")]
    Entry {
        /// The file.
        path: String,
        /// The entry's key.
        key: String,
    },
    /// Writing failed.
    #[error("cannot write the auth file {path}")]
    Write {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

#[derive(Default, Deserialize)]
struct Parsed {
    #[serde(default)]
    auths: HashMap<String, Entry>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: HashMap<String, String>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
}

#[derive(Default, Deserialize)]
struct Entry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// What one file says about a host.
#[derive(Clone, PartialEq, Eq)]
pub enum FileAnswer {
    /// A user name and password.
    Password(String, String),
    /// An identity (OAuth2 refresh) token, with the user name if any.
    IdentityToken(String, String),
    /// Ask this credential helper (`docker-credential-NAME`); `store` is
    /// whether it is the file's `credsStore` rather than a `credHelpers`
    /// entry.
    Helper {
        /// The NAME of `docker-credential-NAME`.
        name: String,
        /// Whether this is `credsStore`.
        store: bool,
    },
}

impl std::fmt::Debug for FileAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        match self {
            FileAnswer::Password(u, _) => write!(f, "Password({u}, <redacted>)"),
            FileAnswer::IdentityToken(u, _) => write!(f, "IdentityToken({u}, <redacted>)"),
            FileAnswer::Helper { name, store } => write!(f, "Helper({name}, store: {store})"),
        }
    }
}

/// One auth file, parsed.
pub struct AuthFile {
    /// Where it is.
    pub path: PathBuf,
    parsed: Parsed,
}

impl std::fmt::Debug for AuthFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets.
        write!(f, "AuthFile({})", self.path.display())
    }
}

impl AuthFile {
    /// Reads `path`: `Ok(None)` if it does not exist.
    pub fn read(path: &Path) -> Result<Option<AuthFile>, AuthFileError> {
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(AuthFileError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        AuthFile::parse(path, &data).map(Some)
    }

    /// Parses the contents of the file at `path`.
    pub fn parse(path: &Path, data: &[u8]) -> Result<AuthFile, AuthFileError> {
        let parsed = serde_json::from_slice::<Parsed>(data).map_err(|e| AuthFileError::Parse {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(AuthFile {
            path: path.to_path_buf(),
            parsed,
        })
    }

    /// What this file says about `host` (`host[:port]`, `docker.io` for
    /// Docker Hub): its `credHelpers` entry, else its `credsStore`, else
    /// its `auths` entry, as docker reads them.
    pub fn lookup(&self, host: &str) -> Result<Option<FileAnswer>, AuthFileError> {
        let host = normalise_key(host);
        let helper = self
            .parsed
            .cred_helpers
            .iter()
            .find(|(k, _)| normalise_key(k) == host)
            .map(|(_, v)| (v.clone(), false))
            .or_else(|| self.parsed.creds_store.clone().map(|s| (s, true)))
            .filter(|(name, _)| !name.is_empty());
        if let Some((name, store)) = helper {
            return Ok(Some(FileAnswer::Helper { name, store }));
        }
        self.entry(&host)
    }

    /// The `auths` entry for `host` alone (what a `credsStore` that does
    /// not know the host falls back to).
    pub fn entry(&self, host: &str) -> Result<Option<FileAnswer>, AuthFileError> {
        let host = normalise_key(host);
        let Some((key, e)) = self
            .parsed
            .auths
            .iter()
            .find(|(k, _)| normalise_key(k) == host)
        else {
            return Ok(None);
        };
        if let Some(token) = e.identitytoken.as_ref().filter(|t| !t.is_empty()) {
            let user = e.username.clone().unwrap_or_default();
            return Ok(Some(FileAnswer::IdentityToken(user, token.clone())));
        }
        if let Some(a) = e.auth.as_ref().filter(|a| !a.trim().is_empty()) {
            let bad = || AuthFileError::Entry {
                path: self.path.display().to_string(),
                key: key.clone(),
            };
            let raw = base64::engine::general_purpose::STANDARD
                .decode(a.trim())
                .map_err(|_| bad())?;
            let text = String::from_utf8(raw).map_err(|_| bad())?;
            let (u, p) = text.split_once(':').ok_or_else(bad)?;
            return Ok(Some(FileAnswer::Password(u.to_string(), p.to_string())));
        }
        match (&e.username, &e.password) {
            (Some(u), Some(p)) if !u.is_empty() => {
                Ok(Some(FileAnswer::Password(u.clone(), p.clone())))
            }
            _ => Ok(None),
        }
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `https://h:5000/x` → `h:5000`.
pub fn normalise_key(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// The auth files, in lookup order.
pub fn search_path(config_dir: &Path) -> Vec<PathBuf> {
    let home = env_path("HOME");
    let mut out = Vec::new();
    out.extend(env_path("REGISTRY_AUTH_FILE"));
    out.extend(env_path("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    out.push(config_dir.join("auth.json"));
    out.extend(
        home.as_ref()
            .map(|h| h.join(".config/containers/auth.json")),
    );
    out.extend(env_path("DOCKER_CONFIG").map(|d| d.join("config.json")));
    out.extend(home.map(|h| h.join(".docker/config.json")));
    out
}

/// The file `rukt login` writes and `rukt logout` edits:
/// `$REGISTRY_AUTH_FILE` if set, else `<config dir>/auth.json`.
pub fn login_file(config_dir: &Path) -> PathBuf {
    env_path("REGISTRY_AUTH_FILE").unwrap_or_else(|| config_dir.join("auth.json"))
}

fn env_path(k: &str) -> Option<PathBuf> {
    std::env::var_os(k)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Sets `auths[host]` in the auth file at `path` to `user:password`
/// (creating the file and its directory), keeping every other key; the
/// file is replaced atomically with mode 0600.
pub fn store(path: &Path, host: &str, user: &str, password: &str) -> Result<(), AuthFileError> {
    let mut doc = read_document(path)?;
    let raw = format!("{user}:{password}");
    let auth = base64::engine::general_purpose::STANDARD.encode(raw);
    let auths = auths_of(&mut doc, path)?;
    auths.retain(|k, _| normalise_key(k) != normalise_key(host));
    auths.insert(host.to_string(), serde_json::json!({ "auth": auth }));
    write_document(path, &doc)
}

/// Removes `auths[host]` from the auth file at `path`; `Ok(false)` if it
/// had none.
pub fn remove(path: &Path, host: &str) -> Result<bool, AuthFileError> {
    if !path.exists() {
        return Ok(false);
    }
    let mut doc = read_document(path)?;
    let auths = auths_of(&mut doc, path)?;
    let before = auths.len();
    auths.retain(|k, _| normalise_key(k) != normalise_key(host));
    if auths.len() == before {
        return Ok(false);
    }
    write_document(path, &doc).map(|()| true)
}

fn read_document(path: &Path) -> Result<serde_json::Value, AuthFileError> {
    let parse_err = |reason: String| AuthFileError::Parse {
        path: path.display().to_string(),
        reason,
    };
    match std::fs::read(path) {
        Ok(data) => {
            // Refuse to rewrite what rukt would not read.
            AuthFile::parse(path, &data)?;
            let v: serde_json::Value =
                serde_json::from_slice(&data).map_err(|e| parse_err(e.to_string()))?;
            if !v.is_object() {
                return Err(parse_err("not a JSON object".into()));
            }
            Ok(v)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(serde_json::json!({})),
        Err(source) => Err(AuthFileError::Read {
            path: path.display().to_string(),
            source,
        }),
    }
}

fn auths_of<'a>(
    doc: &'a mut serde_json::Value,
    path: &Path,
) -> Result<&'a mut serde_json::Map<String, serde_json::Value>, AuthFileError> {
    let obj = doc.as_object_mut().expect("checked to be an object");
    obj.entry("auths")
        .or_insert_with(|| serde_json::json!({}))
        .as_object_mut()
        .ok_or_else(|| AuthFileError::Parse {
            path: path.display().to_string(),
            reason: "\"auths\" is not an object".into(),
        })
}

fn write_document(path: &Path, doc: &serde_json::Value) -> Result<(), AuthFileError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let write_err = |source| AuthFileError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(write_err)?;
    }
    let mut text = serde_json::to_vec_pretty(doc).expect("a JSON value serialises");
    text.push(b'\n');
    // Written 0600 before it is renamed into place: the secret is never
    // readable by others, not even for a moment.
    let tmp = path.with_file_name(format!(
        ".{}.rukt-login-{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| -> std::io::Result<()> {
        use std::io::Write;
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(&text)?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            rukt_sys::atomic::sync_dir(dir)?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(write_err)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    fn file(json: &str) -> AuthFile {
        AuthFile::parse(Path::new("/x/auth.json"), json.as_bytes()).unwrap()
    }

    #[test]
    fn reads_entries_helpers_and_tokens() {
        let f = file(
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},"127.0.0.1:5000":{"username":"a","password":"b"},"t.example":{"identitytoken":"rt"},"empty.example":{}},
                "credHelpers":{"helped.example":"ecr"}}"#,
        );
        assert_eq!(
            f.lookup("docker.io").unwrap(),
            Some(FileAnswer::Password("user".into(), "pass".into()))
        );
        assert_eq!(
            f.lookup("127.0.0.1:5000").unwrap(),
            Some(FileAnswer::Password("a".into(), "b".into()))
        );
        assert_eq!(
            f.lookup("t.example").unwrap(),
            Some(FileAnswer::IdentityToken(String::new(), "rt".into()))
        );
        assert_eq!(
            f.lookup("helped.example").unwrap(),
            Some(FileAnswer::Helper {
                name: "ecr".into(),
                store: false
            })
        );
        assert_eq!(f.lookup("empty.example").unwrap(), None);
        assert_eq!(f.lookup("elsewhere").unwrap(), None);
    }

    #[test]
    fn malformed_files_and_entries_are_errors() {
        let e = AuthFile::parse(Path::new("/x/auth.json"), b"{\"auths\": [}").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("malformed auth file /x/auth.json: "),
            "{e}"
        );
        let f = file(r#"{"auths":{"h":{"auth":"!!"}}}"#);
        assert!(f.lookup("h").unwrap_err().to_string().contains("\"h\""));
    }

    #[test]
    fn store_and_remove_keep_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/auth.json");
        store(&path, "h:1", "u", "p").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mut doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        doc["credHelpers"] = serde_json::json!({"x": "y"});
        std::fs::write(&path, doc.to_string()).unwrap();
        store(&path, "other", "u2", "p2").unwrap();
        let f = AuthFile::read(&path).unwrap().unwrap();
        assert_eq!(
            f.entry("h:1").unwrap(),
            Some(FileAnswer::Password("u".into(), "p".into()))
        );
        assert!(remove(&path, "h:1").unwrap());
        assert!(!remove(&path, "h:1").unwrap());
        let f = AuthFile::read(&path).unwrap().unwrap();
        assert_eq!(f.entry("h:1").unwrap(), None);
        assert!(f.lookup("x").unwrap().is_some(), "credHelpers kept");
    }
}
