//! Progress reporting hooks. The library never prints: the binary decides
//! whether to draw bars (on a terminal), print a summary, or nothing.

use crate::digest::Digest;

/// How a layer ended up in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerFate {
    /// Downloaded, verified and unpacked now.
    Fetched,
    /// Already stored; nothing was transferred.
    Reused,
}

/// Receives fetch progress; every method has a no-op default.
pub trait Progress: Sync {
    /// A layer starts transferring; `size` is its blob size.
    fn layer_started(&self, _blob: &Digest, _size: u64) {}
    /// `bytes` more of the blob were read.
    fn layer_advanced(&self, _blob: &Digest, _bytes: u64) {}
    /// The transfer reconnected after a failure and continues from byte
    /// `from` (0: the blob starts over, and its bar with it).
    fn layer_retried(&self, _blob: &Digest, _from: u64) {}
    /// The layer is in the store.
    fn layer_finished(&self, _blob: &Digest, _fate: LayerFate) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
