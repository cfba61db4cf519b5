//! The CRI ImageService over `rukt-images`: the same store and the same
//! registries.conf mirrors, auth files and signature policy as `rukt
//! fetch`. An image's CRI id is its config digest; its RepoTags are every
//! name the store has for that id, its RepoDigests each name's repository
//! `@` its manifest digest.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rukt_images::digest::Digest;
use rukt_images::fetch::{FetchError, Fetcher, NoProgress, PullPolicy};
use rukt_images::reference::{ImageRef, RegistryRef};
use rukt_images::registry::Credential;
use rukt_images::store::{ImageRecord, Index, Store};
use rukt_proto::cri::v1 as cri;
use tonic::Status;

use crate::ctx::Ctx;
use crate::error::{chain, internal, invalid};

/// Every record of the store, grouped by image id.
fn by_id(index: &Index) -> BTreeMap<&Digest, Vec<&ImageRecord>> {
    let mut out: BTreeMap<&Digest, Vec<&ImageRecord>> = BTreeMap::new();
    for r in index.images.values() {
        out.entry(&r.id).or_default().push(r);
    }
    out
}

/// The user an image's config names: a uid, or a name.
fn config_user(store: &Store, id: &Digest) -> (Option<i64>, String) {
    let user = store
        .read_blob(id)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v["config"]["User"].as_str().map(str::to_string))
        .unwrap_or_default();
    let user = user.split(':').next().unwrap_or_default().to_string();
    match user.parse::<i64>() {
        Ok(uid) => (Some(uid), String::new()),
        Err(_) if user.is_empty() => (Some(0), String::new()),
        Err(_) => (None, user),
    }
}

/// The CRI image of the records of one id.
fn image(store: &Store, id: &Digest, records: &[&ImageRecord]) -> cri::Image {
    let mut tags = Vec::new();
    let mut digests = Vec::new();
    for r in records {
        // A local source's name (oci:PATH:TAG) names nothing kubelet could
        // pull: neither a RepoTag nor a RepoDigest.
        if let Ok(ImageRef::Registry(rr)) = ImageRef::parse(&r.name) {
            if rr.tag.is_some() && rr.digest.is_none() {
                tags.push(r.name.clone());
            }
            digests.push(format!("{}/{}@{}", rr.registry, rr.repository, r.manifest));
        }
    }
    tags.sort();
    tags.dedup();
    digests.sort();
    digests.dedup();
    let (uid, username) = config_user(store, id);
    cri::Image {
        id: id.to_string(),
        repo_tags: tags,
        repo_digests: digests,
        size: records.first().map_or(0, |r| r.size),
        uid: uid.map(|value| cri::Int64Value { value }),
        username,
        spec: Some(cri::ImageSpec {
            image: id.to_string(),
            ..Default::default()
        }),
        pinned: false,
    }
}

/// The id `input` names: a name (normalised as `fetch` names it), an id,
/// an id prefix of at least 4 hex digits, a manifest digest, or
/// `REPO@DIGEST`. `None` when nothing matches.
pub fn resolve(index: &Index, input: &str) -> Result<Option<Digest>, Status> {
    if let Some((repo, d)) = input.split_once('@')
        && let Ok(d) = d.parse::<Digest>()
    {
        let want = RegistryRef::parse(repo)
            .ok()
            .map(|r| (r.registry, r.repository));
        return Ok(index
            .images
            .values()
            .find(|r| {
                r.manifest == d
                    && RegistryRef::parse(&r.name)
                        .ok()
                        .map(|x| (x.registry, x.repository))
                        == want
            })
            .map(|r| r.id.clone()));
    }
    match rukt_images::lookup::find(index, input) {
        Ok(found) => Ok(Some(found[0].id.clone())),
        Err(rukt_images::lookup::LookupError::Unknown(_)) => Ok(None),
        Err(e) => Err(invalid(chain(&e))),
    }
}

fn load(store: &Store) -> Result<Index, Status> {
    store.index().map_err(|e| internal(&e))
}

/// `ListImages`, optionally only those one image spec names.
pub fn list(ctx: &Ctx, filter: Option<&cri::ImageFilter>) -> Result<Vec<cri::Image>, Status> {
    let store = ctx.store();
    let index = load(&store)?;
    let only = match filter
        .and_then(|f| f.image.as_ref())
        .map(|s| s.image.as_str())
    {
        Some(s) if !s.is_empty() => match resolve(&index, s)? {
            Some(id) => Some(id),
            None => return Ok(Vec::new()),
        },
        _ => None,
    };
    Ok(by_id(&index)
        .into_iter()
        .filter(|(id, _)| only.as_ref().is_none_or(|o| o == *id))
        .map(|(id, recs)| image(&store, id, &recs))
        .collect())
}

/// `ImageStatus`: `None` (an OK answer without an image) when missing.
pub fn status(ctx: &Ctx, spec: &str) -> Result<Option<cri::Image>, Status> {
    let store = ctx.store();
    let index = load(&store)?;
    let Some(id) = resolve(&index, spec)? else {
        return Ok(None);
    };
    let recs: Vec<_> = index.images.values().filter(|r| r.id == id).collect();
    Ok(Some(image(&store, &id, &recs)))
}

/// A registry reference, refusing local sources: a pod's author must not
/// read the node's files as an image (`oci:/...`).
pub fn registry_ref(input: &str) -> Result<ImageRef, Status> {
    let image = ImageRef::parse(input).map_err(|e| invalid(chain(&e)))?;
    match image {
        ImageRef::Registry(_) => Ok(image),
        _ => Err(invalid(format!(
            "image {input:?} is not a registry reference (local sources are not served over the CRI)"
        ))),
    }
}

/// The credential a `PullImage` carries, for the image's registry.
fn credential(
    image: &ImageRef,
    auth: Option<&cri::AuthConfig>,
) -> Result<Vec<(String, Credential)>, Status> {
    let (Some(a), ImageRef::Registry(r)) = (auth, image) else {
        return Ok(Vec::new());
    };
    let host = if a.server_address.is_empty() {
        r.registry.clone()
    } else {
        a.server_address
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string()
    };
    let (user, pass) = if !a.username.is_empty() || !a.password.is_empty() {
        (a.username.clone(), a.password.clone())
    } else if !a.auth.is_empty() {
        let raw = decode_base64(&a.auth).ok_or_else(|| invalid("auth is not base64"))?;
        let s = String::from_utf8(raw).map_err(|_| invalid("auth is not UTF-8"))?;
        let (u, p) = s
            .split_once(':')
            .ok_or_else(|| invalid("auth is not base64 of USER:PASSWORD"))?;
        (u.to_string(), p.to_string())
    } else if !a.identity_token.is_empty() {
        return Ok(vec![(
            host,
            Credential {
                username: a.username.clone(),
                secret: rukt_images::registry::auth::Secret::IdentityToken(
                    a.identity_token.clone(),
                ),
                source: "the PullImage request".into(),
            },
        )]);
    } else if !a.registry_token.is_empty() {
        return Err(invalid(
            "registry_token is not supported; send username and password",
        ));
    } else {
        return Ok(Vec::new());
    };
    Ok(vec![(
        host,
        Credential::password(&user, &pass, "the PullImage request"),
    )])
}

/// Standard base64, as docker's `auth` field is.
fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// `PullImage`: always asks the registry (kubelet applies the pull
/// policy), within `deadline`; returns the image id.
pub fn pull(
    ctx: &Ctx,
    spec: &str,
    auth: Option<&cri::AuthConfig>,
    deadline: Option<Duration>,
) -> Result<String, Status> {
    let image = registry_ref(spec)?;
    let given = credential(&image, auth)?;
    let store = ctx.store();
    let opts = rukt_images::fetch::FetchOptions {
        pull_policy: PullPolicy::Update,
        timeout: deadline,
        ..ctx.fetch_options()
    };
    let fetcher = Fetcher::with_credentials(&store, opts, given).map_err(|e| internal(&e))?;
    match fetcher.fetch(&image, &NoProgress) {
        Ok(rec) => Ok(rec.id.to_string()),
        Err(e @ FetchError::Deadline { .. }) => Err(Status::deadline_exceeded(chain(&e))),
        Err(e) => Err(Status::unknown(format!(
            "cannot pull {spec}: {}",
            chain(&e)
        ))),
    }
}

/// `RemoveImage`: every name of the image's id, then the content nothing
/// else uses. A missing image is already removed.
pub fn remove(ctx: &Ctx, spec: &str) -> Result<(), Status> {
    let store = ctx.store();
    let Some(id) = resolve(&load(&store)?, spec)? else {
        return Ok(());
    };
    let names: Vec<String> = load(&store)?
        .images
        .values()
        .filter(|r| r.id == id)
        .map(|r| r.name.clone())
        .collect();
    let pods = ctx.pods();
    match rukt_pods::images::remove_images(&store, &pods, &names) {
        Ok(_) => {}
        Err(rukt_pods::images::RemoveImageError::Lookup(_)) => {}
        Err(e @ rukt_pods::images::RemoveImageError::InUse { .. }) => {
            return Err(Status::failed_precondition(chain(&e)));
        }
        Err(e) => return Err(internal(&e)),
    }
    rukt_images::gc::gc(&store, None, &|| rukt_pods::images::images_in_use(&pods))
        .map_err(|e| internal(&e))?;
    Ok(())
}

/// Bytes (allocated) and inodes under `dir`, not crossing into other
/// filesystems.
pub fn disk_usage(dir: &Path) -> (u64, u64) {
    let Ok(top) = std::fs::symlink_metadata(dir) else {
        return (0, 0);
    };
    let (mut bytes, mut inodes) = (0u64, 0u64);
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.dev() != top.dev() {
                continue;
            }
            bytes += m.blocks() * 512;
            inodes += 1;
            if m.is_dir() {
                todo.push(e.path());
            }
        }
    }
    (bytes, inodes)
}

fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// `ImageFsInfo`: what the store's blobs and unpacked layers use; the
/// containers' writable layers live in the pods directory.
pub fn fs_info(ctx: &Ctx) -> cri::ImageFsInfoResponse {
    let now = unix_nanos(SystemTime::now());
    let fs = |paths: &[&str], mountpoint: &Path| {
        let (b, i) = paths
            .iter()
            .map(|p| disk_usage(&ctx.dir.join(p)))
            .fold((0, 0), |a, u| (a.0 + u.0, a.1 + u.1));
        cri::FilesystemUsage {
            timestamp: now,
            fs_id: Some(cri::FilesystemIdentifier {
                mountpoint: mountpoint.display().to_string(),
            }),
            used_bytes: Some(cri::UInt64Value { value: b }),
            inodes_used: Some(cri::UInt64Value { value: i }),
        }
    };
    cri::ImageFsInfoResponse {
        image_filesystems: vec![fs(&["blobs", "layers"], &ctx.dir)],
        container_filesystems: vec![fs(&["pods"], &ctx.dir.join("pods"))],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_image_is_no_image_and_removing_it_is_ok() {
        let d = tempfile::tempdir().unwrap();
        let ctx = Ctx::for_tests(d.path());
        assert_eq!(status(&ctx, "busybox").unwrap(), None);
        assert_eq!(status(&ctx, "sha256:0123456789ab").unwrap(), None);
        remove(&ctx, "busybox").unwrap();
        assert!(list(&ctx, None).unwrap().is_empty());
        let fs = fs_info(&ctx);
        assert!(fs.image_filesystems[0].timestamp > 0);
        assert_eq!(
            fs.image_filesystems[0].fs_id.as_ref().unwrap().mountpoint,
            d.path().display().to_string()
        );
    }

    #[test]
    fn docker_auth_decodes() {
        assert_eq!(decode_base64("dXNlcjpwYXNz").unwrap(), b"user:pass");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert!(decode_base64("!!!!").is_none());
    }

    #[test]
    fn local_sources_are_refused() {
        assert!(registry_ref("busybox").is_ok());
        let e = registry_ref("oci:/etc:x").unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
    }

    #[test]
    fn credentials_come_from_the_request_for_its_registry() {
        let image = registry_ref("127.0.0.1:5000/a/b:1").unwrap();
        let a = cri::AuthConfig {
            auth: "dXNlcjpwYXNz".into(),
            ..Default::default()
        };
        let c = credential(&image, Some(&a)).unwrap();
        assert_eq!(c[0].0, "127.0.0.1:5000");
        assert_eq!(c[0].1.username, "user");
        let a = cri::AuthConfig {
            username: "u".into(),
            password: "p".into(),
            server_address: "https://reg.example/".into(),
            ..Default::default()
        };
        assert_eq!(credential(&image, Some(&a)).unwrap()[0].0, "reg.example");
        assert!(credential(&image, None).unwrap().is_empty());
    }
}
