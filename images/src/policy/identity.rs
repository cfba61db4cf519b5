//! `signedIdentity`: whether the reference a signature names is an
//! acceptable identity for the reference being fetched.

use super::file::SignedIdentity;
use crate::reference::RegistryRef;

fn repo(r: &RegistryRef) -> String {
    format!("{}/{}", r.registry, r.repository)
}

/// Parses a reference as a policy or payload writes it (normalised the
/// way rukt normalises what users type: `busybox` is
/// `docker.io/library/busybox`).
fn parse(s: &str) -> Result<RegistryRef, String> {
    RegistryRef::parse(s).map_err(|e| format!("invalid reference {s:?}: {e}"))
}

/// Parses without implying `:latest` (for repositories).
fn parse_repo(s: &str) -> Result<String, String> {
    if s.contains('@') || s.rsplit_once(':').is_some_and(|(_, t)| !t.contains('/')) {
        return Err(format!(
            "{s:?} is not a repository (it has a tag or digest)"
        ));
    }
    parse(s).map(|r| repo(&r))
}

fn exact(a: &RegistryRef, b: &RegistryRef) -> bool {
    a == b
}

fn repo_digest_or_exact(image: &RegistryRef, signed: &RegistryRef) -> bool {
    if image.digest.is_some() && image.tag.is_none() {
        repo(image) == repo(signed)
    } else {
        exact(image, signed)
    }
}

/// Whether a signature claiming `signed` may vouch for `image`.
pub fn matches(rule: &SignedIdentity, image: &RegistryRef, signed: &str) -> Result<bool, String> {
    let signed_ref = parse(signed)?;
    Ok(match rule {
        SignedIdentity::MatchExact {} => exact(image, &signed_ref),
        SignedIdentity::MatchRepoDigestOrExact {} => repo_digest_or_exact(image, &signed_ref),
        SignedIdentity::MatchRepository {} => repo(image) == repo(&signed_ref),
        SignedIdentity::ExactReference { docker_reference } => {
            exact(&parse(docker_reference)?, &signed_ref)
        }
        SignedIdentity::ExactRepository { docker_repository } => {
            parse_repo(docker_repository)? == repo(&signed_ref)
        }
        SignedIdentity::RemapIdentity {
            prefix,
            signed_prefix,
        } => {
            let full = image.to_string();
            let remapped = match full.strip_prefix(prefix.as_str()) {
                Some(rest)
                    if rest.is_empty()
                        || prefix.ends_with('/')
                        || rest.starts_with(['/', ':', '@']) =>
                {
                    parse(&format!("{signed_prefix}{rest}"))?
                }
                _ => image.clone(),
            };
            repo_digest_or_exact(&remapped, &signed_ref)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn r(s: &str) -> RegistryRef {
        RegistryRef::parse(s).unwrap()
    }

    #[test]
    fn each_kind() {
        let m = |rule: SignedIdentity, image: &str, signed: &str| {
            matches(&rule, &r(image), signed).unwrap()
        };
        use SignedIdentity::*;
        assert!(m(MatchRepoDigestOrExact {}, "a.io/x:v1", "a.io/x:v1"));
        assert!(!m(MatchRepoDigestOrExact {}, "a.io/x:v2", "a.io/x:v1"));
        assert!(m(
            MatchRepoDigestOrExact {},
            &format!("a.io/x@{D}"),
            "a.io/x:v1"
        ));
        assert!(!m(
            MatchRepoDigestOrExact {},
            &format!("a.io/y@{D}"),
            "a.io/x:v1"
        ));
        assert!(m(
            MatchRepoDigestOrExact {},
            "busybox",
            "docker.io/library/busybox:latest"
        ));
        assert!(!m(MatchExact {}, &format!("a.io/x@{D}"), "a.io/x:v1"));
        assert!(m(MatchRepository {}, "a.io/x:v2", "a.io/x:v1"));
        assert!(!m(MatchRepository {}, "a.io/xy:v1", "a.io/x:v1"));
        let er = ExactReference {
            docker_reference: "a.io/x:v1".into(),
        };
        assert!(m(er.clone(), "b.io/anything:else", "a.io/x:v1"));
        assert!(!m(er, "b.io/anything:else", "a.io/x:v2"));
        let erepo = ExactRepository {
            docker_repository: "a.io/x".into(),
        };
        assert!(m(erepo, "b.io/q:z", "a.io/x:v9"));
        let remap = RemapIdentity {
            prefix: "mirror.io/m".into(),
            signed_prefix: "a.io/x".into(),
        };
        assert!(m(remap.clone(), "mirror.io/m/app:v1", "a.io/x/app:v1"));
        assert!(!m(remap.clone(), "mirror.io/m/app:v1", "a.io/x/app:v2"));
        assert!(!m(remap, "mirror.io/mm/app:v1", "a.io/x/app:v1"));
    }
}
