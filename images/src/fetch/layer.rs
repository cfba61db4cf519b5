//! Getting one layer into the store: download (or read the stored blob),
//! verify, unpack, sync and rename into place, all in one streaming pass,
//! under the layer's creation lock.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use tracing::debug;

use super::progress::{LayerFate, Progress};
use super::stream::{Capped, Decoder, Tee, Watch, buffered};
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
        ctx.source.blob(&job.blob)?
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

    // Unpack (or, when the layer exists, just hash the tar).
    let (stats, tar_stream) = if have_layer {
        (unpack::UnpackStats::default(), tar_stream)
    } else {
        unpack::unpack(tar_stream, &rootfs_tmp).map_err(|e| match e {
            unpack::UnpackError::Read(io) => layer_err(LayerError::from_io(io)),
            other => layer_err(LayerError::Unpack(other)),
        })?
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
