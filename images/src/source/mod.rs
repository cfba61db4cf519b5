//! Where image bytes come from: a registry, an OCI layout (a directory or
//! a tar of one) or a `docker save` archive, behind one trait so that the
//! fetch pipeline verifies and stores them all the same way.

pub mod archive;
pub mod layout;
pub mod registry;
pub mod tarfs;

use std::io::{self, Read};

use crate::digest::Digest;
use crate::reference::ImageRef;

/// The top-level document a reference names: a manifest or an index.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The document, exactly as served.
    pub bytes: Vec<u8>,
    /// Its media type.
    pub media_type: String,
    /// Its digest (checked against the reference's, when it had one).
    pub digest: Digest,
}

/// Why a source could not deliver.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The registry failed.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// Reading a local layout or archive failed.
    #[error("cannot read {path}")]
    Io {
        /// What was being read.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A local layout or archive is not what it should be.
    #[error("{path}: {reason}")]
    Invalid {
        /// The layout or archive.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The manifest a pinned reference names hashed to something else.
    #[error("manifest digest mismatch: expected {expected}, got {actual}")]
    ManifestDigest {
        /// The pinned digest.
        expected: Digest,
        /// What the served manifest hashes to.
        actual: Digest,
    },
    /// Blob unknown to the source.
    #[error("{digest}: not found in the source")]
    BlobNotFound {
        /// The blob.
        digest: Digest,
    },
}

/// A place to read an image from.
pub trait Source: Send + Sync {
    /// The top-level manifest or index the reference names.
    fn resolve(&self) -> Result<Resolved, SourceError>;
    /// A manifest named by an index (the caller verifies it).
    fn manifest(&self, digest: &Digest) -> Result<Vec<u8>, SourceError>;
    /// Streams a blob (the caller verifies it).
    fn blob(&self, digest: &Digest) -> Result<Box<dyn Read + Send + '_>, SourceError>;
    /// Streams a blob, calling `on_retry` when a network source reconnects
    /// (with the byte it continues from); local sources never do.
    fn blob_watched<'s>(
        &'s self,
        digest: &Digest,
        on_retry: crate::registry::RetryHook<'s>,
    ) -> Result<Box<dyn Read + Send + 's>, SourceError> {
        drop(on_retry);
        self.blob(digest)
    }
    /// A manifest of the same repository by tag (a sigstore signature
    /// attachment), `None` when absent or the source has no tags of that
    /// kind (local layouts and archives).
    fn tagged_manifest(&self, tag: &str) -> Result<Option<Vec<u8>>, SourceError> {
        let _ = tag;
        Ok(None)
    }
    /// The name the source itself gives the image (a `docker save` tag).
    fn name(&self) -> Option<String> {
        None
    }
}

/// Settings for opening registry sources.
pub struct SourceContext<'a> {
    /// The shared registry client.
    pub client: &'a crate::registry::Client,
    /// Mirrors and per-registry settings.
    pub registries: &'a crate::registry::RegistriesConf,
    /// `--insecure-options=http`.
    pub insecure_http: bool,
}

/// Opens the source a reference names.
pub fn open<'a>(
    image: &ImageRef,
    ctx: &SourceContext<'a>,
) -> Result<Box<dyn Source + 'a>, SourceError> {
    Ok(match image {
        ImageRef::Registry(r) => Box::new(registry::RegistrySource::new(r.clone(), ctx)),
        ImageRef::OciLayout { path, tag } => {
            Box::new(layout::LayoutSource::open_dir(path, tag.as_deref())?)
        }
        ImageRef::OciArchive { path, tag } => {
            Box::new(layout::LayoutSource::open_archive(path, tag.as_deref())?)
        }
        ImageRef::DockerArchive { path, reference } => {
            Box::new(archive::DockerArchive::open(path, reference.as_deref())?)
        }
    })
}

/// The `mediaType` a manifest or index declares in its body.
pub fn declared_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        layers: Option<serde_json::Value>,
    }
    let p: Probe = serde_json::from_slice(bytes).ok()?;
    p.media_type.or_else(|| {
        if p.manifests.is_some() {
            Some(crate::media::OCI_INDEX.to_string())
        } else if p.layers.is_some() {
            Some(crate::media::OCI_MANIFEST.to_string())
        } else {
            None
        }
    })
}
