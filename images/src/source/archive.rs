//! `docker save` archives (`docker-archive:FILE[:NAME:TAG]`).
//!
//! Such an archive has no distribution manifest, only `manifest.json`
//! listing the config file and the layer tars. rukt synthesises an OCI
//! manifest for it: the config's digest is computed from the file; a layer
//! stored as `blobs/<alg>/<hex>` is addressed by that name, and a legacy
//! uncompressed `<id>/layer.tar` by its diff_id from the config (which the
//! fetch verifies while unpacking, so the content is still checked).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::tarfs::TarFs;
use super::{Resolved, Source, SourceError};
use crate::digest::{Algorithm, Digest, Hasher};
use crate::media::{self, Compression};
use crate::reference::RegistryRef;
use crate::registry::MAX_MANIFEST_SIZE;

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// An opened `docker save` archive.
pub struct DockerArchive {
    tar: TarFs,
    shown: String,
    name: Option<String>,
    manifest: Vec<u8>,
    /// Blob digest → member name.
    members: HashMap<Digest, String>,
}

impl DockerArchive {
    /// Opens `path`, picking the image tagged `reference` when given.
    pub fn open(path: &Path, reference: Option<&str>) -> Result<DockerArchive, SourceError> {
        let shown = path.display().to_string();
        let invalid = |reason: String| SourceError::Invalid {
            path: shown.clone(),
            reason,
        };
        let io = |source| SourceError::Io {
            path: shown.clone(),
            source,
        };
        let tar = TarFs::open(path).map_err(io)?;
        let raw = tar
            .read_member("manifest.json", MAX_MANIFEST_SIZE)
            .map_err(io)?;
        let entries: Vec<Entry> = serde_json::from_slice(&raw)
            .map_err(|e| invalid(format!("invalid manifest.json: {e}")))?;
        let normal = |t: &str| {
            RegistryRef::parse(t)
                .map(|r| r.to_string())
                .unwrap_or_else(|_| t.to_string())
        };
        let entry = match reference {
            Some(want) => {
                let want = normal(want);
                entries
                    .into_iter()
                    .find(|e| e.repo_tags.iter().flatten().any(|t| normal(t) == want))
                    .ok_or_else(|| invalid(format!("no image tagged {want:?}")))?
            }
            None => {
                let mut it = entries.into_iter();
                match (it.next(), it.next()) {
                    (Some(e), None) => e,
                    (None, _) => return Err(invalid("the archive holds no image".into())),
                    (Some(_), Some(_)) => {
                        return Err(invalid(
                            "the archive holds several images; name one with :NAME:TAG".into(),
                        ));
                    }
                }
            }
        };
        let name = reference
            .map(normal)
            .or_else(|| entry.repo_tags.iter().flatten().next().map(|t| normal(t)));

        let config = tar
            .read_member(&entry.config, MAX_MANIFEST_SIZE)
            .map_err(io)?;
        let config_digest = Digest::sha256_of(&config);
        #[derive(Deserialize)]
        struct RootFs {
            diff_ids: Vec<Digest>,
        }
        #[derive(Deserialize)]
        struct Cfg {
            rootfs: RootFs,
        }
        let cfg: Cfg = serde_json::from_slice(&config)
            .map_err(|e| invalid(format!("invalid image config: {e}")))?;
        if cfg.rootfs.diff_ids.len() != entry.layers.len() {
            return Err(invalid(
                "the config's diff_ids do not match the layer list".into(),
            ));
        }
        let mut members = HashMap::from([(config_digest.clone(), entry.config.clone())]);
        let mut layers = Vec::new();
        for (member, diff_id) in entry.layers.iter().zip(&cfg.rootfs.diff_ids) {
            let size = tar
                .size(member)
                .ok_or_else(|| invalid(format!("layer {member} is missing")))?;
            let mut head = [0u8; 4];
            let n = tar
                .open_member(member)
                .and_then(|mut r| r.read(&mut head))
                .map_err(io)?;
            let compression = Compression::sniff(&head[..n]);
            let digest = match member
                .strip_prefix("blobs/")
                .and_then(|r| r.replace('/', ":").parse::<Digest>().ok())
            {
                Some(d) => d,
                None if compression == Compression::None => diff_id.clone(),
                None => hash_member(&tar, member).map_err(io)?,
            };
            let media_type = match compression {
                Compression::None => "application/vnd.oci.image.layer.v1.tar",
                Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
                Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
            };
            layers.push(serde_json::json!({"mediaType": media_type, "digest": digest.to_string(), "size": size}));
            members.insert(digest, member.clone());
        }
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": {"mediaType": media::OCI_CONFIG, "digest": config_digest.to_string(), "size": config.len()},
            "layers": layers,
        }))
        .map_err(|e| invalid(e.to_string()))?;
        Ok(DockerArchive {
            tar,
            shown,
            name,
            manifest,
            members,
        })
    }
}

fn hash_member(tar: &TarFs, member: &str) -> std::io::Result<Digest> {
    let mut r = tar.open_member(member)?;
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finish());
        }
        h.update(&buf[..n]);
    }
}

impl Source for DockerArchive {
    fn resolve(&self) -> Result<Resolved, SourceError> {
        Ok(Resolved {
            bytes: self.manifest.clone(),
            media_type: media::OCI_MANIFEST.to_string(),
            digest: Digest::sha256_of(&self.manifest),
        })
    }

    fn manifest(&self, digest: &Digest) -> Result<Vec<u8>, SourceError> {
        Err(SourceError::BlobNotFound {
            digest: digest.clone(),
        })
    }

    fn blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let member = self
            .members
            .get(digest)
            .ok_or_else(|| SourceError::BlobNotFound {
                digest: digest.clone(),
            })?;
        let r = self
            .tar
            .open_member(member)
            .map_err(|source| SourceError::Io {
                path: format!("{}:{member}", self.shown),
                source,
            })?;
        Ok(Box::new(r))
    }

    fn name(&self) -> Option<String> {
        self.name.clone()
    }
}
