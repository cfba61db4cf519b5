//! Image references: where an image comes from, as the user writes it.
//!
//! - `docker://HOST[:PORT]/NAME[:TAG|@DIGEST]` and bare `NAME[:TAG]` with
//!   Docker Hub defaults (`busybox` is `docker.io/library/busybox:latest`);
//! - `oci:DIR[:TAG]`, an OCI image layout directory;
//! - `oci-archive:FILE[:TAG]`, a tar of such a layout;
//! - `docker-archive:FILE[:NAME:TAG]`, the `docker save` format.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// The registry that bare names and `docker.io/...` refer to.
pub const DOCKER_HUB: &str = "docker.io";
/// The host that actually serves Docker Hub's registry API.
pub const DOCKER_HUB_HOST: &str = "registry-1.docker.io";

/// Where an image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// A registry speaking the OCI distribution protocol.
    Registry(RegistryRef),
    /// An OCI image layout directory, optionally with the tag to pick.
    OciLayout {
        /// The layout directory.
        path: PathBuf,
        /// Its `org.opencontainers.image.ref.name` to pick.
        tag: Option<String>,
    },
    /// A tar archive of an OCI image layout.
    OciArchive {
        /// The archive file.
        path: PathBuf,
        /// Its `org.opencontainers.image.ref.name` to pick.
        tag: Option<String>,
    },
    /// A `docker save` archive.
    DockerArchive {
        /// The archive file.
        path: PathBuf,
        /// Which of its `RepoTags` to pick, when it holds several images.
        reference: Option<String>,
    },
}

/// A reference to an image in a registry, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryRef {
    /// Registry host with optional port, `docker.io` for Docker Hub.
    pub registry: String,
    /// Repository path, `library/busybox` for Docker Hub's official images.
    pub repository: String,
    /// The tag; `latest` when neither tag nor digest is given.
    pub tag: Option<String>,
    /// The manifest digest, when pinned.
    pub digest: Option<Digest>,
}

/// A reference that cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    input: String,
    reason: &'static str,
}

impl ImageRef {
    /// Parses what the user typed.
    pub fn parse(input: &str) -> Result<ImageRef, ReferenceError> {
        let err = |reason| ReferenceError {
            input: input.to_string(),
            reason,
        };
        if let Some(rest) = input.strip_prefix("docker://") {
            let rest = rest.trim_start_matches('/');
            return RegistryRef::parse(rest)
                .map(ImageRef::Registry)
                .map_err(err);
        }
        if let Some(rest) = input.strip_prefix("oci:") {
            let (path, tag) = split_path_tag(rest).map_err(err)?;
            return Ok(ImageRef::OciLayout { path, tag });
        }
        if let Some(rest) = input.strip_prefix("oci-archive:") {
            let (path, tag) = split_path_tag(rest).map_err(err)?;
            return Ok(ImageRef::OciArchive { path, tag });
        }
        if let Some(rest) = input.strip_prefix("docker-archive:") {
            // FILE[:NAME:TAG]: the file is everything up to the first ':'.
            let (path, reference) = match rest.split_once(':') {
                Some((p, r)) if !r.is_empty() => (p, Some(r.to_string())),
                _ => (rest, None),
            };
            if path.is_empty() {
                return Err(err("missing archive path"));
            }
            return Ok(ImageRef::DockerArchive {
                path: absolute(path),
                reference,
            });
        }
        if input.contains("://") {
            return Err(err(
                "unknown transport; use docker://, oci:, oci-archive: or docker-archive:",
            ));
        }
        RegistryRef::parse(input)
            .map(ImageRef::Registry)
            .map_err(err)
    }

    /// The name under which the store records this image, or `None` when
    /// the name comes from the source itself (a `docker save` archive).
    pub fn store_name(&self) -> Option<String> {
        match self {
            ImageRef::Registry(r) => Some(r.to_string()),
            ImageRef::OciLayout { path, tag } => Some(local_name("oci", path, tag.as_deref())),
            ImageRef::OciArchive { path, tag } => {
                Some(local_name("oci-archive", path, tag.as_deref()))
            }
            ImageRef::DockerArchive { reference, .. } => reference
                .as_deref()
                .and_then(|r| RegistryRef::parse(r).ok())
                .map(|r| r.to_string()),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageRef::Registry(r) => write!(f, "docker://{r}"),
            ImageRef::OciLayout { path, tag } => {
                f.write_str(&local_name("oci", path, tag.as_deref()))
            }
            ImageRef::OciArchive { path, tag } => {
                f.write_str(&local_name("oci-archive", path, tag.as_deref()))
            }
            ImageRef::DockerArchive { path, reference } => match reference {
                Some(r) => write!(f, "docker-archive:{}:{r}", path.display()),
                None => write!(f, "docker-archive:{}", path.display()),
            },
        }
    }
}

fn local_name(transport: &str, path: &Path, tag: Option<&str>) -> String {
    match tag {
        Some(t) => format!("{transport}:{}:{t}", path.display()),
        None => format!("{transport}:{}", path.display()),
    }
}

fn absolute(path: &str) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| PathBuf::from(path))
}

fn split_path_tag(rest: &str) -> Result<(PathBuf, Option<String>), &'static str> {
    let (path, tag) = match rest.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') && !p.is_empty() => (p, Some(t.to_string())),
        _ => (rest, None),
    };
    if path.is_empty() {
        return Err("missing path");
    }
    if let Some(t) = &tag
        && !valid_tag(t)
    {
        return Err("invalid tag");
    }
    Ok((absolute(path), tag))
}

impl RegistryRef {
    /// Parses `[HOST[:PORT]/]NAME[:TAG][@DIGEST]` with Docker Hub defaults.
    pub fn parse(s: &str) -> Result<RegistryRef, &'static str> {
        if s.is_empty() {
            return Err("empty reference");
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(d.parse::<Digest>().map_err(|_| "invalid digest")?)),
            None => (s, None),
        };
        let (name, tag) = match rest.rsplit_once(':') {
            Some((n, t)) if !t.contains('/') => (n, Some(t.to_string())),
            _ => (rest, None),
        };
        if let Some(t) = &tag
            && !valid_tag(t)
        {
            return Err("invalid tag");
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if !valid_host(&registry) {
            return Err("invalid registry host");
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !repository.split('/').all(valid_path_component) {
            return Err("invalid repository name (lowercase letters, digits and . _ - only)");
        }
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(RegistryRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// The host to connect to (Docker Hub's API lives on another name).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_HOST
        } else {
            &self.registry
        }
    }

    /// What to ask the registry's manifest endpoint for: digest wins over tag.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

impl fmt::Display for RegistryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

fn valid_tag(t: &str) -> bool {
    let mut bytes = t.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphanumeric() || b == b'_')
        && t.len() <= 128
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        && !h.starts_with(['.', '-', ':'])
}

fn valid_path_component(c: &str) -> bool {
    !c.is_empty()
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && c.as_bytes()[0].is_ascii_alphanumeric()
        && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reg(s: &str) -> RegistryRef {
        match ImageRef::parse(s).unwrap() {
            ImageRef::Registry(r) => r,
            other => panic!("not a registry ref: {other:?}"),
        }
    }

    #[test]
    fn docker_hub_defaults() {
        assert_eq!(
            reg("busybox").to_string(),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            reg("busybox:1.36").to_string(),
            "docker.io/library/busybox:1.36"
        );
        assert_eq!(reg("foo/bar").to_string(), "docker.io/foo/bar:latest");
        assert_eq!(reg("busybox").api_host(), DOCKER_HUB_HOST);
    }

    #[test]
    fn hosts_ports_and_digests() {
        let r = reg("docker://127.0.0.1:5000/demo/app:v1");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "demo/app")
        );
        assert_eq!(r.tag.as_deref(), Some("v1"));
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let r = reg(&format!("localhost/app@{d}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.manifest_reference(), d);
        assert_eq!(reg("localhost:5000/app").registry, "localhost:5000");
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "UPPER/case",
            "docker://",
            "a//b",
            "x@sha256:12",
            "http://x/y",
            "a:-bad",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn local_transports() {
        match ImageRef::parse("oci:/tmp/layout:v2").unwrap() {
            ImageRef::OciLayout { path, tag } => {
                assert_eq!(path, PathBuf::from("/tmp/layout"));
                assert_eq!(tag.as_deref(), Some("v2"));
            }
            other => panic!("{other:?}"),
        }
        match ImageRef::parse("docker-archive:/tmp/x.tar:busybox:latest").unwrap() {
            ImageRef::DockerArchive { path, reference } => {
                assert_eq!(path, PathBuf::from("/tmp/x.tar"));
                assert_eq!(reference.as_deref(), Some("busybox:latest"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ImageRef::parse("oci-archive:/a/b.tar")
                .unwrap()
                .store_name()
                .unwrap(),
            "oci-archive:/a/b.tar"
        );
    }
}
