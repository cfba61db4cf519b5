//! Registry credentials and auth challenges.
//!
//! Credentials come from the ecosystem's usual files, first match wins:
//! `$REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`,
//! `<config dir>/auth.json`, `~/.config/containers/auth.json`,
//! `$DOCKER_CONFIG/config.json`, `~/.docker/config.json`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;
use tracing::debug;

/// A user name and password (or identity token).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// User name.
    pub username: String,
    /// Password or token.
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credential({}, <redacted>)", self.username)
    }
}

impl Credential {
    /// The `Authorization: Basic` value.
    pub fn basic(&self) -> String {
        let raw = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        )
    }
}

#[derive(Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: HashMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Credentials for registry hosts, loaded once.
#[derive(Debug, Default, Clone)]
pub struct Credentials {
    by_host: HashMap<String, Credential>,
}

impl Credentials {
    /// Loads the first file of the search list that exists.
    pub fn load(config_dir: &Path) -> Credentials {
        for path in search_path(config_dir) {
            if let Ok(data) = std::fs::read(&path) {
                match serde_json::from_slice::<AuthFile>(&data) {
                    Ok(file) => {
                        debug!(file = %path.display(), "using registry credentials");
                        return Credentials::from_file(file);
                    }
                    Err(e) => {
                        debug!(file = %path.display(), error = %e, "ignoring unreadable auth file")
                    }
                }
            }
        }
        Credentials::default()
    }

    /// Parses an auth file's contents (for tests and explicit files).
    pub fn from_json(data: &[u8]) -> Result<Credentials, serde_json::Error> {
        serde_json::from_slice(data).map(Credentials::from_file)
    }

    fn from_file(file: AuthFile) -> Credentials {
        let mut by_host = HashMap::new();
        for (key, entry) in file.auths {
            let cred = match (entry.auth, entry.username, entry.password) {
                (Some(a), _, _) => base64::engine::general_purpose::STANDARD
                    .decode(a.trim())
                    .ok()
                    .and_then(|raw| String::from_utf8(raw).ok())
                    .and_then(|s| {
                        s.split_once(':')
                            .map(|(u, p)| (u.to_string(), p.to_string()))
                    }),
                (None, Some(u), Some(p)) => Some((u, p)),
                _ => None,
            };
            if let Some((username, password)) = cred {
                by_host.insert(normalise_key(&key), Credential { username, password });
            }
        }
        Credentials { by_host }
    }

    /// The credential for a registry host, if any.
    pub fn get(&self, host: &str) -> Option<&Credential> {
        self.by_host.get(host).or_else(|| {
            (host == crate::reference::DOCKER_HUB_HOST)
                .then(|| self.by_host.get("docker.io"))
                .flatten()
        })
    }
}

/// `https://index.docker.io/v1/` → `docker.io`; `https://h:5000/x` → `h:5000`.
fn normalise_key(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

fn search_path(config_dir: &Path) -> Vec<PathBuf> {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let home = env("HOME");
    let mut out = Vec::new();
    out.extend(env("REGISTRY_AUTH_FILE"));
    out.extend(env("XDG_RUNTIME_DIR").map(|d| d.join("containers/auth.json")));
    out.push(config_dir.join("auth.json"));
    out.extend(
        home.as_ref()
            .map(|h| h.join(".config/containers/auth.json")),
    );
    out.extend(env("DOCKER_CONFIG").map(|d| d.join("config.json")));
    out.extend(home.map(|h| h.join(".docker/config.json")));
    out
}

/// A parsed `WWW-Authenticate` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=...`.
    Basic,
    /// `Bearer realm=...,service=...,scope=...`.
    Bearer {
        /// Token endpoint.
        realm: String,
        /// The `service` parameter to pass on.
        service: Option<String>,
        /// The `scope` the registry asked for.
        scope: Option<String>,
    },
}

impl Challenge {
    /// Parses the header value; `None` for schemes rukt does not speak.
    pub fn parse(header: &str) -> Option<Challenge> {
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        let params = parse_params(rest);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => Some(Challenge::Basic),
            "bearer" => Some(Challenge::Bearer {
                realm: params.get("realm")?.clone(),
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
            }),
            _ => None,
        }
    }
}

fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.find('"') {
                Some(end) => (&q[..end], &q[end + 1..]),
                None => (q, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        out.insert(key, value.to_string());
        rest = next.trim_start_matches(',').trim();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bearer_challenge() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull".into()),
            }
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="x""#),
            Some(Challenge::Basic)
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn reads_auth_json() {
        let creds = Credentials::from_json(
            br#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz"},"127.0.0.1:5000":{"username":"a","password":"b"}}}"#,
        )
        .unwrap();
        assert_eq!(creds.get("registry-1.docker.io").unwrap().username, "user");
        assert_eq!(creds.get("127.0.0.1:5000").unwrap().basic(), "Basic YTpi");
        assert!(creds.get("elsewhere").is_none());
    }
}
