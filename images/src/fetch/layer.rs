//! Getting one layer into the store: download (or read the stored blob),
//! verify, unpack, sync and rename into place, all in one streaming pass,
//! under the layer's creation lock.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use tracing::debug;

use super::progress::{LayerFate, Progress};
use super::stream::{self, Capped, Decoder, Tee, Watch, buffered};
use super::{Created, FetchError, LayerError};
use crate::digest::{Algorithm, Digest, VerifyingReader};
use crate::media::layer_compression;
use crate::source::Source;
use crate::store::fsutil::{sync_dir, write_atomic};
use crate::store::{FileLock, LayerMeta, LockMode, Store, TmpArea, io_err};
use crate::unpack;

/// One layer to fetch.
#[derive(Debug, Clone)]
pub struct LayerJob {
    /// The blob's digest.
    pub blob: Digest,
    /// Its size.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
    /// The uncompressed tar's digest, from the config.
    pub diff_id: Digest,
}

/// Shared state of the layer workers.
pub(crate) struct LayerCtx<'a> {
    pub store: &'a Store,
    pub source: &'a dyn Source,
    pub tmp: &'a TmpArea,
    pub progress: &'a dyn Progress,
    pub cancel: &'a AtomicBool,
    pub deadline: Option<std::time::Instant>,
    pub max_layer_size: u64,
}

/// Ensures blob and unpacked layer are stored; returns the layer's meta
/// and what this call created.
pub(crate) fn ensure_layer(
    ctx: &LayerCtx<'_>,
    job: &LayerJob,
    created: &mut Vec<Created>,
) -> Result<LayerMeta, FetchError> {
    let store = ctx.store;
    let lock_path = store.item_lock_path(&job.blob);
    let _blob_lock =
        FileLock::acquire(&lock_path, LockMode::Exclusive).map_err(io_err("lock", &lock_path))?;
    // Layers with the same diff_id but another compression serialise too;
    // an uncompressed blob shares its lock file with its layer.
    let _layer_lock = if job.diff_id != job.blob {
        let p = store.item_lock_path(&job.diff_id);
        Some(FileLock::acquire(&p, LockMode::Exclusive).map_err(io_err("lock", &p))?)
    } else {
        None
    };
    let have_blob = store.has_blob(&job.blob);
    let have_layer = store.has_layer(&job.diff_id);
    if have_blob && have_layer {
        ctx.progress.layer_finished(&job.blob, LayerFate::Reused);
        return Ok(store.layer_meta(&job.diff_id)?);
    }
    ctx.progress.layer_started(&job.blob, job.size);
    let layer_err = |source| FetchError::Layer {
        blob: job.blob.clone(),
        source,
    };
    let compression = layer_compression(&job.media_type)
        .ok_or_else(|| layer_err(LayerError::MediaType(job.media_type.clone())))?;

    let input: Box<dyn io::Read + Send + '_> = if have_blob {
        let p = store.blob_path(&job.blob);
        Box::new(File::open(&p).map_err(io_err("open", &p))?)
    } else {
        let (progress, blob) = (ctx.progress, job.blob.clone());
        ctx.source.blob_watched(
            &job.blob,
            Box::new(move |from| progress.layer_retried(&blob, from)),
        )?
    };
    let blob_tmp = ctx.tmp.unique("blob");
    let tee_out = if have_blob {
        None
    } else {
        let f = File::create(&blob_tmp).map_err(io_err("create", &blob_tmp))?;
        Some(BufWriter::with_capacity(1 << 20, f))
    };
    let layer_tmp = ctx.tmp.unique("layer");
    let rootfs_tmp = layer_tmp.join("rootfs");
    if !have_layer {
        std::fs::create_dir_all(&rootfs_tmp).map_err(io_err("create", &rootfs_tmp))?;
    }

    let watched = Watch {
        inner: input,
        blob: &job.blob,
        progress: ctx.progress,
        cancel: ctx.cancel,
        deadline: ctx.deadline,
        pending: 0,
    };
    let verifying = VerifyingReader::new(watched, job.blob.algorithm(), Some(job.size));
    let tee = Tee {
        inner: verifying,
        out: tee_out,
    };
    let decoder =
        Decoder::new(buffered(tee), compression).map_err(|e| layer_err(LayerError::from_io(e)))?;
    let capped = Capped {
        inner: decoder,
        limit: ctx.max_layer_size,
        seen: 0,
    };
    let tar_stream = VerifyingReader::new(capped, Algorithm::Sha256, None);

    // Decompress and hash on this thread, unpack on another: the biggest
    // layer is the critical path, and this puts both cores on it.
    let stop = AtomicBool::new(false);
    let (stats, tar_stream) = if have_layer {
        let ts = pump(tar_stream, None, &stop).map_err(|e| layer_err(LayerError::from_io(e)))?;
        (unpack::UnpackStats::default(), ts)
    } else {
        let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(PIPE_DEPTH);
        let (unpacked, pumped) = std::thread::scope(|s| {
            let unpacker = s.spawn(|| {
                let r = unpack::unpack(
                    ChannelReader {
                        rx,
                        cur: Vec::new(),
                        pos: 0,
                    },
                    &rootfs_tmp,
                );
                if r.is_err() {
                    stop.store(true, Ordering::Relaxed);
                }
                r.map(|(stats, _)| stats)
            });
            let pumped = pump(tar_stream, Some(tx), &stop);
            (unpacker.join(), pumped)
        });
        let unpacked = unpacked
            .map_err(|_| layer_err(LayerError::Read(io::Error::other("unpacker panicked"))))?;
        // A failing stream (bad digest, size cap, decompression) explains a
        // truncated tar better than the tar reader's complaint does.
        match (pumped, unpacked) {
            (Ok(ts), Ok(stats)) => (stats, ts),
            (Err(e), _) if !stream::is_cancelled(&e) => {
                return Err(layer_err(LayerError::from_io(e)));
            }
            (_, Err(unpack::UnpackError::Read(io))) => {
                return Err(layer_err(LayerError::from_io(io)));
            }
            (_, Err(other)) => return Err(layer_err(LayerError::Unpack(other))),
            (Err(e), Ok(_)) => return Err(layer_err(LayerError::from_io(e))),
        }
    };
    let (capped, _) = tar_stream
        .verify_into_inner(&job.diff_id)
        .map_err(|e| layer_err(LayerError::from_verify(e, true)))?;
    let tee = capped.into_inner().into_inner().into_inner();
    let (verifying, file) = tee
        .into_file()
        .map_err(|e| layer_err(LayerError::from_io(e)))?;
    let mut tee = Tee {
        inner: verifying,
        out: file.map(BufWriter::new),
    };
    // Whatever follows the compressed stream still belongs to the blob.
    io::copy(&mut tee, &mut io::sink()).map_err(|e| layer_err(LayerError::from_io(e)))?;
    let (verifying, file) = tee
        .into_file()
        .map_err(|e| layer_err(LayerError::from_io(e)))?;
    verifying
        .verify_into_inner(&job.blob)
        .map_err(|e| layer_err(LayerError::from_verify(e, false)))?;

    // Durable before visible: one syncfs covers every file just written.
    if let Some(f) = &file {
        rustix::fs::syncfs(f).map_err(|e| io_err("sync", &blob_tmp)(e.into()))?;
    } else if !have_layer {
        let d = File::open(&rootfs_tmp).map_err(io_err("open", &rootfs_tmp))?;
        rustix::fs::syncfs(&d).map_err(|e| io_err("sync", &rootfs_tmp)(e.into()))?;
    }
    if file.is_some() {
        let dest = store.blob_path(&job.blob);
        rename_into(&blob_tmp, &dest)?;
        created.push(Created::Blob(job.blob.clone()));
    }
    let meta = if have_layer {
        store.layer_meta(&job.diff_id)?
    } else {
        let meta = LayerMeta {
            diff_id: job.diff_id.clone(),
            size: stats.size,
            entries: stats.entries,
        };
        let meta_path = layer_tmp.join("layer.json");
        let data = serde_json::to_vec_pretty(&meta).expect("layer meta serialises");
        write_atomic(&meta_path, &data).map_err(io_err("write", &meta_path))?;
        rename_into(&layer_tmp, &store.layer_dir(&job.diff_id))?;
        created.push(Created::Layer(job.diff_id.clone()));
        meta
    };
    debug!(blob = %job.blob, diff_id = %job.diff_id, bytes = meta.size, "layer stored");
    ctx.progress.layer_finished(&job.blob, LayerFate::Fetched);
    Ok(meta)
}

/// Renames a finished temp file or directory into the store.
pub(crate) fn rename_into(from: &Path, to: &Path) -> Result<(), FetchError> {
    std::fs::rename(from, to).map_err(io_err("rename into", to))?;
    if let Some(parent) = to.parent() {
        sync_dir(parent).map_err(io_err("sync", parent))?;
    }
    Ok(())
}

/// Chunks in flight between the decompressing and the unpacking thread.
const PIPE_DEPTH: usize = 4;
const CHUNK: usize = 1 << 20;

/// Reads `r` to its end in chunks, handing them to `tx` while someone
/// listens; stops early (with a cancellation) when `stop` is set. Returns
/// the reader so its hashes can be checked.
fn pump<R: io::Read>(
    mut r: R,
    mut tx: Option<mpsc::SyncSender<Vec<u8>>>,
    stop: &AtomicBool,
) -> io::Result<R> {
    let mut spare = vec![0u8; CHUNK];
    loop {
        if stop.load(Ordering::Relaxed) {
            return Err(io::Error::other(stream::Cancelled));
        }
        spare.resize(CHUNK, 0);
        let mut filled = 0;
        while filled < CHUNK {
            match r.read(&mut spare[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            return Ok(r);
        }
        spare.truncate(filled);
        if let Some(t) = &tx {
            let chunk = std::mem::replace(&mut spare, Vec::with_capacity(CHUNK));
            if t.send(chunk).is_err() {
                // The tar reader is done (end-of-archive); keep hashing.
                tx = None;
            }
        }
    }
}

/// The unpacking side of the pipe.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
