//! Readers of the one-pass layer pipeline:
//! source → progress/cancel → verify blob → tee into the blob file →
//! decompress → verify diff_id (with a size cap) → tar unpacker.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::digest::Digest;
use crate::media::Compression;

use super::progress::Progress;

/// Reports progress and stops when the fetch is cancelled.
pub struct Watch<'a, R> {
    pub(crate) inner: R,
    pub(crate) blob: &'a Digest,
    pub(crate) progress: &'a dyn Progress,
    pub(crate) cancel: &'a AtomicBool,
    pub(crate) deadline: Option<Instant>,
    pub(crate) pending: u64,
}

impl<R: Read> Read for Watch<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(io::Error::other(Cancelled));
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(io::Error::other(DeadlinePassed));
        }
        let n = self.inner.read(buf)?;
        self.pending += n as u64;
        if self.pending >= 1 << 18 || n == 0 {
            self.progress.layer_advanced(self.blob, self.pending);
            self.pending = 0;
        }
        Ok(n)
    }
}

/// The fetch was cancelled because another layer failed.
#[derive(Debug, thiserror::Error)]
#[error("cancelled: another layer failed")]
pub struct Cancelled;

/// The whole fetch's deadline passed (the fetch reports it as such).
#[derive(Debug, thiserror::Error)]
#[error("the deadline passed")]
pub struct DeadlinePassed;

/// Whether an I/O error is (or wraps, as decoders and the tar reader do) a
/// cancellation.
pub fn is_cancelled(e: &io::Error) -> bool {
    find_cause::<Cancelled>(e).is_some()
}

/// The first error of type `T` inside `e`, looking through nested
/// `io::Error`s and `source()` chains.
pub fn find_cause<T: std::error::Error + 'static>(e: &io::Error) -> Option<&T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = e.get_ref().map(|i| i as _);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<T>() {
            return Some(t);
        }
        cur = match err.downcast_ref::<io::Error>() {
            Some(io) => io.get_ref().map(|i| i as _),
            None => err.source(),
        };
    }
    None
}

/// Copies everything read into a file as well.
pub struct Tee<R> {
    pub(crate) inner: R,
    pub(crate) out: Option<BufWriter<File>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(out) = &mut self.out {
            out.write_all(&buf[..n])?;
        }
        Ok(n)
    }
}

impl<R> Tee<R> {
    /// Flushes and returns the file written to.
    pub fn into_file(self) -> io::Result<(R, Option<File>)> {
        let file = match self.out {
            Some(w) => Some(w.into_inner().map_err(|e| e.into_error())?),
            None => None,
        };
        Ok((self.inner, file))
    }
}

/// A decompressor chosen by the layer's media type.
pub enum Decoder<R: BufRead> {
    /// Plain tar.
    Plain(R),
    /// gzip, possibly multi-member.
    Gzip(Box<flate2::bufread::MultiGzDecoder<R>>),
    /// zstd, possibly multi-frame.
    Zstd(zstd::stream::read::Decoder<'static, R>),
}

/// The blob's first bytes say something else than its media type.
#[derive(Debug, thiserror::Error)]
#[error("the layer's media type says {declared:?} but its data is {actual:?}")]
pub struct CompressionMismatch {
    /// From the media type.
    pub declared: Compression,
    /// From the magic bytes.
    pub actual: Compression,
}

impl<R: BufRead> Decoder<R> {
    /// Checks the magic bytes against `declared` and builds the decoder.
    pub fn new(mut inner: R, declared: Compression) -> io::Result<Decoder<R>> {
        let actual = Compression::sniff(inner.fill_buf()?);
        if actual != declared {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                CompressionMismatch { declared, actual },
            ));
        }
        Ok(match declared {
            Compression::None => Decoder::Plain(inner),
            Compression::Gzip => {
                Decoder::Gzip(Box::new(flate2::bufread::MultiGzDecoder::new(inner)))
            }
            Compression::Zstd => Decoder::Zstd(zstd::stream::read::Decoder::with_buffer(inner)?),
        })
    }

    /// The compressed reader back.
    pub fn into_inner(self) -> R {
        match self {
            Decoder::Plain(r) => r,
            Decoder::Gzip(d) => d.into_inner(),
            Decoder::Zstd(d) => d.finish(),
        }
    }
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
        }
    }
}

/// Refuses to yield more than `limit` bytes: the decompression-bomb guard.
pub struct Capped<R> {
    pub(crate) inner: R,
    pub(crate) limit: u64,
    pub(crate) seen: u64,
}

/// A layer inflates past the configured limit.
#[derive(Debug, thiserror::Error)]
#[error("the uncompressed layer exceeds the limit of {limit} bytes (--max-layer-size)")]
pub struct TooLarge {
    /// The limit.
    pub limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen += n as u64;
        if self.seen > self.limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                TooLarge { limit: self.limit },
            ));
        }
        Ok(n)
    }
}

impl<R> Capped<R> {
    /// The wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }
}

/// Large buffers: fewer syscalls and decoder calls per byte.
pub fn buffered<R: Read>(r: R) -> BufReader<R> {
    BufReader::with_capacity(1 << 17, r)
}
