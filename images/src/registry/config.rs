//! `registries.conf` under the config directory: per-registry plain-HTTP
//! permission and mirrors, in the TOML shape of containers-registries.conf(5)
//! (a subset), so that podman users recognise it:
//!
//! ```toml
//! [[registry]]
//! location = "registry.example:5000"
//! insecure = false
//! [[registry.mirror]]
//! location = "127.0.0.1:5000"
//! insecure = true
//! ```

use std::path::Path;

use serde::Deserialize;

use crate::reference::RegistryRef;

/// A place to fetch a repository from: a host and the repository path there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` to connect to.
    pub host: String,
    /// The repository path on that host.
    pub repository: String,
    /// Whether plain HTTP is allowed for this endpoint.
    pub insecure: bool,
    /// Whether this is a mirror (errors fall through to the next endpoint).
    pub mirror: bool,
}

/// The parsed `registries.conf`.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RegistriesConf {
    /// `[[registry]]` tables.
    #[serde(default)]
    pub registry: Vec<RegistryEntry>,
}

/// One `[[registry]]` table.
#[derive(Debug, Clone, Deserialize)]
pub struct RegistryEntry {
    /// The `host[/path]` prefix of references this entry applies to.
    #[serde(alias = "prefix")]
    pub location: String,
    /// Allow plain HTTP to the registry itself.
    #[serde(default)]
    pub insecure: bool,
    /// Refuse to fetch from the registry itself (mirrors only).
    #[serde(default)]
    pub blocked: bool,
    /// Mirrors, tried in order before the registry.
    #[serde(default)]
    pub mirror: Vec<MirrorEntry>,
}

/// One `[[registry.mirror]]` table.
#[derive(Debug, Clone, Deserialize)]
pub struct MirrorEntry {
    /// The `host[/path]` that stands in for the registry's location.
    pub location: String,
    /// Allow plain HTTP to this mirror.
    #[serde(default)]
    pub insecure: bool,
}

/// A `registries.conf` that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Reading failed.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML of the expected shape.
    #[error("invalid {path}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: toml::de::Error,
    },
}

impl RegistriesConf {
    /// Loads `path`; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<RegistriesConf, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(RegistriesConf::default());
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                });
            }
        };
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.display().to_string(),
            source,
        })
    }

    /// The endpoints to try for `r`, mirrors first; `insecure_all` is
    /// `--insecure-options=http`.
    pub fn endpoints(&self, r: &RegistryRef, insecure_all: bool) -> Vec<Endpoint> {
        let full = format!("{}/{}", r.registry, r.repository);
        let entry = self
            .registry
            .iter()
            .filter(|e| prefix_matches(&full, &e.location))
            .max_by_key(|e| e.location.len());
        let direct = Endpoint {
            host: r.api_host().to_string(),
            repository: r.repository.clone(),
            insecure: insecure_all || entry.is_some_and(|e| e.insecure),
            mirror: false,
        };
        let Some(entry) = entry else {
            return vec![direct];
        };
        let rest = &full[entry.location.len()..];
        let mut out: Vec<Endpoint> = entry
            .mirror
            .iter()
            .map(|m| {
                let target = format!("{}{rest}", m.location);
                let (host, repository) = target.split_once('/').unwrap_or((&target, ""));
                Endpoint {
                    host: host.to_string(),
                    repository: repository.to_string(),
                    insecure: insecure_all || m.insecure,
                    mirror: true,
                }
            })
            .filter(|e| !e.repository.is_empty())
            .collect();
        if !entry.blocked {
            out.push(direct);
        }
        out
    }
}

impl RegistriesConf {
    /// The registry `host` itself (`docker.io` for Docker Hub) as an
    /// endpoint without a repository (to check a login): plain HTTP and
    /// unverified TLS as its own `[[registry]]` entry (or `insecure_all`)
    /// allows.
    pub fn host_endpoint(&self, host: &str, insecure_all: bool) -> Endpoint {
        let insecure = self
            .registry
            .iter()
            .any(|e| e.location == host && e.insecure);
        let api_host = if host == crate::reference::DOCKER_HUB {
            crate::reference::DOCKER_HUB_HOST
        } else {
            host
        };
        Endpoint {
            host: api_host.to_string(),
            repository: String::new(),
            insecure: insecure_all || insecure,
            mirror: false,
        }
    }
}

fn prefix_matches(full: &str, location: &str) -> bool {
    full == location
        || (full.starts_with(location) && full.as_bytes().get(location.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_come_first_and_rewrite_the_prefix() {
        let conf: RegistriesConf = toml::from_str(
            r#"
            [[registry]]
            location = "registry.example:5000"
            [[registry.mirror]]
            location = "127.0.0.1:5001/cache"
            insecure = true
            "#,
        )
        .unwrap();
        let r = RegistryRef::parse("registry.example:5000/team/app:1").unwrap();
        let eps = conf.endpoints(&r, false);
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].host, "127.0.0.1:5001");
        assert_eq!(eps[0].repository, "cache/team/app");
        assert!(eps[0].insecure && eps[0].mirror);
        assert_eq!(eps[1].host, "registry.example:5000");
        assert!(!eps[1].insecure);
        let other = RegistryRef::parse("registry.example:50001/x").unwrap();
        assert_eq!(conf.endpoints(&other, true).len(), 1);
    }
}
