//! Scopes: which names of an image a policy or registries.d scope may
//! match, most specific first, and the checks a scope must pass. Matching
//! is by whole path components (`example.com/foo` never covers
//! `example.com/foobar`: rkt's prefix bug).

use std::path::Path;

use crate::reference::{ImageRef, RegistryRef};

/// The transport name of a reference.
pub fn transport(image: &ImageRef) -> &'static str {
    match image {
        ImageRef::Registry(_) => "docker",
        ImageRef::OciLayout { .. } => "oci",
        ImageRef::OciArchive { .. } => "oci-archive",
        ImageRef::DockerArchive { .. } => "docker-archive",
    }
}

/// The scopes that may name `image` within its transport, most specific
/// first (the transport default `""` is not included).
pub fn candidates(image: &ImageRef) -> Vec<String> {
    match image {
        ImageRef::Registry(r) => docker_candidates(r),
        ImageRef::OciLayout { path, tag } | ImageRef::OciArchive { path, tag } => {
            let mut out = Vec::new();
            if let Some(t) = tag {
                out.push(format!("{}:{t}", path.display()));
            }
            out.extend(path_candidates(path));
            out
        }
        ImageRef::DockerArchive { path, reference } => {
            let mut out = Vec::new();
            if let Some(r) = reference {
                out.push(format!("{}:{r}", path.display()));
            }
            out.extend(path_candidates(path));
            out
        }
    }
}

/// A registry reference's own identity and its namespaces: the full
/// reference, the repository, each parent namespace, the host, then
/// `*.domain` wildcards.
pub fn docker_candidates(r: &RegistryRef) -> Vec<String> {
    let mut out = Vec::new();
    let repo = format!("{}/{}", r.registry, r.repository);
    match (&r.tag, &r.digest) {
        (Some(t), Some(d)) => {
            out.push(format!("{repo}:{t}@{d}"));
            out.push(format!("{repo}@{d}"));
            out.push(format!("{repo}:{t}"));
        }
        (Some(t), None) => out.push(format!("{repo}:{t}")),
        (None, Some(d)) => out.push(format!("{repo}@{d}")),
        (None, None) => {}
    }
    let mut ns = repo.as_str();
    loop {
        out.push(ns.to_string());
        match ns.rsplit_once('/') {
            Some((parent, _)) => ns = parent,
            None => break,
        }
    }
    let host = r.registry.split(':').next().unwrap_or(&r.registry);
    let mut rest = host;
    while let Some((_, parent)) = rest.split_once('.') {
        out.push(format!("*.{parent}"));
        rest = parent;
    }
    out
}

fn path_candidates(path: &Path) -> Vec<String> {
    path.ancestors()
        .filter(|p| p.as_os_str() != "/" && !p.as_os_str().is_empty())
        .map(|p| p.display().to_string())
        .collect()
}

/// Whether `scope` is well-formed for `transport` (`""` always is).
pub fn check_scope(transport: &str, scope: &str) -> Result<(), String> {
    if scope.is_empty() {
        return Ok(());
    }
    if transport == "docker" {
        check_docker_scope(scope)
    } else if !scope.starts_with('/') {
        Err("must be an absolute path".into())
    } else if scope.split('/').any(|c| c == ".." || c == ".") {
        Err("must not contain . or .. components".into())
    } else {
        Ok(())
    }
}

/// A docker scope: `*.domain`, a host, a namespace, a repository or a
/// full reference, without a scheme.
pub fn check_docker_scope(scope: &str) -> Result<(), String> {
    if let Some(domain) = scope.strip_prefix("*.") {
        if domain.is_empty() || domain.contains(['/', ':', '*']) {
            return Err("a wildcard scope is *.DOMAIN only".into());
        }
        return Ok(());
    }
    if scope.contains("://") || scope.contains('*') || scope.ends_with('/') {
        return Err("not a host, namespace, repository or reference".into());
    }
    let host = scope.split('/').next().unwrap_or_default();
    if !host.contains(['.', ':']) && host != "localhost" {
        return Err("must start with a registry host (e.g. docker.io/library/busybox)".into());
    }
    if scope.contains('/') {
        // A namespace parses as a reference once a tag is implied.
        RegistryRef::parse(scope).map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_go_from_specific_to_wide_by_component() {
        let r = RegistryRef::parse("reg.example.com:5000/team/app:v1").unwrap();
        assert_eq!(
            docker_candidates(&r),
            [
                "reg.example.com:5000/team/app:v1",
                "reg.example.com:5000/team/app",
                "reg.example.com:5000/team",
                "reg.example.com:5000",
                "*.example.com",
                "*.com",
            ]
        );
        let r = RegistryRef::parse("reg.example.com/team/appx:v1").unwrap();
        assert!(!docker_candidates(&r).contains(&"reg.example.com/team/app".to_string()));
    }

    #[test]
    fn scopes_are_checked() {
        assert!(check_docker_scope("docker.io/library/busybox").is_ok());
        assert!(check_docker_scope("*.example.com").is_ok());
        assert!(check_docker_scope("https://x.io/a").is_err());
        assert!(check_docker_scope("busybox").is_err());
        assert!(check_scope("oci", "relative/dir").is_err());
    }
}
