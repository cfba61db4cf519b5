//! The name → image index (`images.json`): what `image list` shows and
//! what makes content reachable. Replaced atomically under `images.lock`.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::platform::Platform;

/// Format version of `images.json`.
pub const INDEX_VERSION: u32 = 1;

/// One layer of a stored image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the (possibly compressed) blob.
    pub blob: Digest,
    /// Digest of the uncompressed tar: the key of the unpacked layer.
    pub diff_id: Digest,
    /// The blob's media type.
    pub media_type: String,
    /// Size of the blob in bytes.
    pub size: u64,
}

/// An image the store has under a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The name it was fetched as, e.g. `docker.io/library/busybox:latest`.
    pub name: String,
    /// The image ID: the digest of its config.
    pub id: Digest,
    /// Digest of the single-platform manifest.
    pub manifest: Digest,
    /// Media type of that manifest.
    pub manifest_media_type: String,
    /// The index it was picked from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<Digest>,
    /// The platform of the image.
    pub platform: Platform,
    /// The layers, bottom first.
    pub layers: Vec<LayerRecord>,
    /// Bytes of regular files in the unpacked layers.
    pub size: u64,
    /// The config's `created`, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// When it was fetched (RFC 3339, UTC).
    pub fetched: String,
    /// When it was last fetched or used by a pod (RFC 3339, UTC).
    pub last_used: String,
    /// Where it came from, as the user wrote it.
    pub source: String,
    /// What let it in: the signature policy that applied and the keys
    /// whose signatures satisfied it (absent in records older than trust).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<crate::policy::Verdict>,
}

impl ImageRecord {
    /// Every blob the image needs: manifest, config and layers.
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        [&self.manifest, &self.id]
            .into_iter()
            .chain(self.index.iter())
            .chain(self.layers.iter().map(|l| &l.blob))
    }
}

/// The contents of `images.json`.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Index {
    /// Format version.
    pub version: u32,
    /// Records by name.
    pub images: BTreeMap<String, ImageRecord>,
}

/// A broken `images.json`.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading or writing failed.
    #[error("cannot access the image index {path}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Not valid JSON of the expected shape.
    #[error("the image index {path} is corrupt")]
    Corrupt {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Written by a newer rukt.
    #[error(
        "the image index {path} has version {version}; this rukt reads version {INDEX_VERSION}"
    )]
    Version {
        /// The file.
        path: String,
        /// Its version.
        version: u32,
    },
}

impl Index {
    /// Reads the index; a missing file is an empty index.
    pub fn load(path: &Path) -> Result<Index, IndexError> {
        let p = || path.display().to_string();
        let data = match std::fs::read(path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Index {
                    version: INDEX_VERSION,
                    images: BTreeMap::new(),
                });
            }
            Err(source) => return Err(IndexError::Io { path: p(), source }),
        };
        let index: Index = serde_json::from_slice(&data)
            .map_err(|source| IndexError::Corrupt { path: p(), source })?;
        if index.version != INDEX_VERSION {
            return Err(IndexError::Version {
                path: p(),
                version: index.version,
            });
        }
        Ok(index)
    }

    /// Writes the index atomically.
    pub fn save(&self, path: &Path) -> Result<(), IndexError> {
        let data = serde_json::to_vec_pretty(self).map_err(|source| IndexError::Corrupt {
            path: path.display().to_string(),
            source,
        })?;
        super::fsutil::write_atomic(path, &data).map_err(|source| IndexError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Whether any record needs `digest` as a blob.
    pub fn references_blob(&self, digest: &Digest) -> bool {
        self.images.values().any(|r| r.blobs().any(|b| b == digest))
    }

    /// Whether any record needs the unpacked layer `diff_id`.
    pub fn references_layer(&self, diff_id: &Digest) -> bool {
        self.images
            .values()
            .any(|r| r.layers.iter().any(|l| &l.diff_id == diff_id))
    }
}

/// Now, as RFC 3339 UTC with seconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}
