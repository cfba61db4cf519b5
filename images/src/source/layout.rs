//! OCI image layouts, as a directory (`oci:DIR[:TAG]`) or a tar of one
//! (`oci-archive:FILE[:TAG]`).

use std::io::Read;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageIndex;

use super::tarfs::TarFs;
use super::{Resolved, Source, SourceError};
use crate::digest::Digest;
use crate::registry::MAX_MANIFEST_SIZE;

/// The annotation that names an image in a layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

enum Files {
    Dir(PathBuf),
    Tar(TarFs),
}

/// An OCI image layout.
pub struct LayoutSource {
    files: Files,
    shown: String,
    root: oci_spec::image::Descriptor,
}

impl LayoutSource {
    /// A layout directory.
    pub fn open_dir(path: &Path, tag: Option<&str>) -> Result<LayoutSource, SourceError> {
        if !path.join("oci-layout").is_file() {
            return Err(SourceError::Invalid {
                path: path.display().to_string(),
                reason: "not an OCI image layout (no oci-layout file)".into(),
            });
        }
        Self::new(
            Files::Dir(path.to_path_buf()),
            path.display().to_string(),
            tag,
        )
    }

    /// A tar of a layout directory.
    pub fn open_archive(path: &Path, tag: Option<&str>) -> Result<LayoutSource, SourceError> {
        let shown = path.display().to_string();
        let tar = TarFs::open(path).map_err(|source| SourceError::Io {
            path: shown.clone(),
            source,
        })?;
        if !tar.contains("oci-layout") {
            return Err(SourceError::Invalid {
                path: shown,
                reason: "not an OCI image layout archive (no oci-layout file)".into(),
            });
        }
        Self::new(Files::Tar(tar), shown, tag)
    }

    fn new(files: Files, shown: String, tag: Option<&str>) -> Result<LayoutSource, SourceError> {
        let raw = read_small(&files, &shown, "index.json")?;
        let index: ImageIndex = serde_json::from_slice(&raw).map_err(|e| SourceError::Invalid {
            path: shown.clone(),
            reason: format!("invalid index.json: {e}"),
        })?;
        let name_of = |d: &oci_spec::image::Descriptor| {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME))
                .cloned()
        };
        let candidates: Vec<_> = match tag {
            Some(t) => index
                .manifests()
                .iter()
                .filter(|d| name_of(d).as_deref() == Some(t))
                .collect(),
            None => index.manifests().iter().collect(),
        };
        let root = match candidates.as_slice() {
            [one] => (*one).clone(),
            [] => {
                let reason = match tag {
                    Some(t) => format!("no image tagged {t:?}"),
                    None => "the layout holds no image".into(),
                };
                return Err(SourceError::Invalid {
                    path: shown,
                    reason,
                });
            }
            many => {
                let names: Vec<_> = many.iter().filter_map(|d| name_of(d)).collect();
                return Err(SourceError::Invalid {
                    path: shown,
                    reason: format!(
                        "the layout holds {} images; name one of {names:?} with :TAG",
                        many.len()
                    ),
                });
            }
        };
        Ok(LayoutSource { files, shown, root })
    }

    fn blob_name(d: &Digest) -> String {
        format!("blobs/{}/{}", d.algorithm().name(), d.hex())
    }

    fn open(&self, name: &str) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        let io = |source| SourceError::Io {
            path: format!("{}/{name}", self.shown),
            source,
        };
        Ok(match &self.files {
            Files::Dir(dir) => Box::new(std::fs::File::open(dir.join(name)).map_err(io)?),
            Files::Tar(tar) => Box::new(tar.open_member(name).map_err(io)?),
        })
    }
}

fn read_small(files: &Files, shown: &str, name: &str) -> Result<Vec<u8>, SourceError> {
    let io = |source| SourceError::Io {
        path: format!("{shown}/{name}"),
        source,
    };
    match files {
        Files::Dir(dir) => {
            let f = std::fs::File::open(dir.join(name)).map_err(io)?;
            let mut out = Vec::new();
            f.take(MAX_MANIFEST_SIZE + 1)
                .read_to_end(&mut out)
                .map_err(io)?;
            if out.len() as u64 > MAX_MANIFEST_SIZE {
                return Err(SourceError::Invalid {
                    path: shown.to_string(),
                    reason: format!("{name} is too large"),
                });
            }
            Ok(out)
        }
        Files::Tar(tar) => tar.read_member(name, MAX_MANIFEST_SIZE).map_err(io),
    }
}

fn parse_digest(shown: &str, d: &oci_spec::image::Digest) -> Result<Digest, SourceError> {
    d.to_string()
        .parse()
        .map_err(|e: crate::digest::DigestParseError| SourceError::Invalid {
            path: shown.to_string(),
            reason: e.to_string(),
        })
}

impl Source for LayoutSource {
    fn resolve(&self) -> Result<Resolved, SourceError> {
        let digest = parse_digest(&self.shown, self.root.digest())?;
        let bytes = self.manifest(&digest)?;
        let actual = {
            let mut h = crate::digest::Hasher::new(digest.algorithm());
            h.update(&bytes);
            h.finish()
        };
        if actual != digest {
            return Err(SourceError::ManifestDigest {
                expected: digest,
                actual,
            });
        }
        if bytes.len() as u64 != self.root.size() {
            return Err(SourceError::Invalid {
                path: self.shown.clone(),
                reason: format!(
                    "manifest {digest} is {} bytes, index.json says {}",
                    bytes.len(),
                    self.root.size()
                ),
            });
        }
        Ok(Resolved {
            bytes,
            media_type: self.root.media_type().to_string(),
            digest,
        })
    }

    fn manifest(&self, digest: &Digest) -> Result<Vec<u8>, SourceError> {
        read_small(&self.files, &self.shown, &Self::blob_name(digest)).map_err(|e| match e {
            SourceError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                SourceError::BlobNotFound {
                    digest: digest.clone(),
                }
            }
            other => other,
        })
    }

    fn blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, SourceError> {
        self.open(&Self::blob_name(digest)).map_err(|e| match e {
            SourceError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                SourceError::BlobNotFound {
                    digest: digest.clone(),
                }
            }
            other => other,
        })
    }
}
