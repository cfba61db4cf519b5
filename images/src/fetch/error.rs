//! What can go wrong in a fetch, as one enum for the fetch and one for a
//! single layer.

use std::io;

use crate::digest::{Digest, VerifyError, VerifyStreamError};
use crate::platform::Platform;
use crate::source::SourceError;
use crate::store::StoreError;

use super::stream;

/// Why a layer failed.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    /// The media type is not a layer rukt unpacks.
    #[error("unsupported layer media type {0:?}")]
    MediaType(String),
    /// The compressed blob does not match its descriptor.
    #[error(transparent)]
    Blob(VerifyError),
    /// The uncompressed tar does not match the config's diff_id.
    #[error("uncompressed content does not match the config's diff_id: {0}")]
    DiffId(VerifyError),
    /// The tar holds something hostile, or writing failed.
    #[error(transparent)]
    Unpack(unpack_error::UnpackError),
    /// Reading, decompressing or the size cap failed.
    #[error("cannot read the layer")]
    Read(#[source] io::Error),
}

/// Re-export for the variant above.
mod unpack_error {
    pub use crate::unpack::UnpackError;
}

impl LayerError {
    pub(crate) fn from_io(e: io::Error) -> LayerError {
        // A size mismatch detected mid-stream travels as an io::Error.
        if let Some(v) = stream::find_cause::<VerifyError>(&e) {
            return LayerError::Blob(match v {
                VerifyError::TooLong { expected } => VerifyError::TooLong {
                    expected: *expected,
                },
                VerifyError::Truncated { expected, actual } => VerifyError::Truncated {
                    expected: *expected,
                    actual: *actual,
                },
                VerifyError::Digest { expected, actual } => VerifyError::Digest {
                    expected: expected.clone(),
                    actual: actual.clone(),
                },
            });
        }
        LayerError::Read(e)
    }

    pub(crate) fn from_verify(e: VerifyStreamError, diff: bool) -> LayerError {
        match e {
            VerifyStreamError::Io(io) => LayerError::from_io(io),
            VerifyStreamError::Verify(v) if diff => LayerError::DiffId(v),
            VerifyStreamError::Verify(v) => LayerError::Blob(v),
        }
    }
}

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The signature policy refuses the image.
    #[error(transparent)]
    Trust(#[from] crate::policy::TrustError),
    /// `--pull-policy=never` and the store lacks it.
    #[error("{name} is not in the store (pull policy is never)")]
    NotInStore {
        /// The name looked for.
        name: String,
    },
    /// Not a manifest or index rukt understands.
    #[error("unsupported manifest media type {0:?}")]
    ManifestType(String),
    /// Docker schema 1.
    #[error("docker schema 1 manifests are not supported; re-push the image with a current tool")]
    Schema1,
    /// The manifest or index is not valid JSON of the right shape.
    #[error("malformed {what} {digest}: {reason}")]
    Malformed {
        /// `manifest`, `index` or `config`.
        what: &'static str,
        /// Its digest.
        digest: Digest,
        /// The parser's complaint.
        reason: String,
    },
    /// The index has nothing for the wanted platform.
    #[error("no image for platform {wanted} (the index has: {available})")]
    NoPlatform {
        /// Wanted.
        wanted: Platform,
        /// What the index offers.
        available: String,
    },
    /// A descriptor's media type is wrong for where it is used.
    #[error("{digest} has media type {media_type:?}, expected {expected}")]
    MediaType {
        /// The descriptor's digest.
        digest: Digest,
        /// Its media type.
        media_type: String,
        /// What was expected there.
        expected: &'static str,
    },
    /// Layer count and diff_id count differ.
    #[error("the manifest has {layers} layers but the config lists {diff_ids} diff_ids")]
    DiffIdCount {
        /// Layers in the manifest.
        layers: usize,
        /// diff_ids in the config.
        diff_ids: usize,
    },
    /// A small blob (manifest, config) failed verification.
    #[error("{what} {digest}")]
    Blob {
        /// What it is.
        what: &'static str,
        /// Its digest.
        digest: Digest,
        /// The failure.
        #[source]
        source: VerifyStreamError,
    },
    /// The whole fetch took longer than allowed.
    #[error("the fetch did not finish within {}s (--timeout)", timeout.as_secs_f64())]
    Deadline {
        /// The allowed time.
        timeout: std::time::Duration,
    },
    /// A layer failed.
    #[error("layer {blob}")]
    Layer {
        /// The layer blob.
        blob: Digest,
        /// The failure.
        #[source]
        source: LayerError,
    },
}
