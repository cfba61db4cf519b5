//! `image gc`: remove blobs and unpacked layers that no image name
//! references, and the leftovers of fetches that were killed. With a grace
//! period, images unused for that long lose their names first (as rkt's
//! `image gc --grace-period`).
//!
//! gc takes the store lock exclusively, so it waits for running fetches
//! (which hold it shared) and never removes what one of them just added.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, SystemTime};

use tracing::{debug, info};

use crate::digest::Digest;
use crate::store::fsutil::{remove_any, tree_size};
use crate::store::{ImageRecord, Index, LockMode, Store, StoreError, io_err};

/// What a gc run removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Image names removed for being unused past the grace period.
    pub images: Vec<String>,
    /// Blobs removed.
    pub blobs: usize,
    /// Unpacked layers removed.
    pub layers: usize,
    /// Scratch directories of dead fetches removed.
    pub scratch: usize,
    /// Bytes freed (regular files).
    pub bytes: u64,
}

/// What pods use, which gc must keep even when no name references it.
#[derive(Debug, Default, Clone)]
pub struct InUse {
    /// Image IDs (config digests) of images pods run.
    pub images: HashSet<Digest>,
    /// Blobs (configs, manifests) pods reference.
    pub blobs: HashSet<Digest>,
    /// Unpacked layers pods mount (diff_ids).
    pub layers: HashSet<Digest>,
}

/// Runs gc. `in_use` is asked, once the store is held exclusively (so no pod
/// is being prepared), what pods use: their images keep their names whatever
/// their age, and their blobs and layers stay.
pub fn gc(
    store: &Store,
    grace_period: Option<Duration>,
    in_use: &dyn Fn() -> InUse,
) -> Result<GcReport, StoreError> {
    let _lock = store.lock_store(LockMode::Exclusive)?;
    let used = in_use();
    let pinned = |r: &ImageRecord| used.images.contains(&r.id);
    let mut report = GcReport::default();
    if let Some(grace) = grace_period {
        let cutoff = SystemTime::now()
            .checked_sub(grace)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let stale = store.update_index(|idx| {
            let stale: Vec<ImageRecord> = idx
                .images
                .values()
                .filter(|r| !pinned(r) && used_before(store, r, cutoff))
                .cloned()
                .collect();
            for r in &stale {
                idx.images.remove(&r.name);
            }
            stale
        })?;
        stale
            .iter()
            .for_each(|r| crate::events::removed(store, r, "image gc"));
        report.images = stale.into_iter().map(|r| r.name).collect();
    }
    let tmp_root = store.tmp_root();
    report.scratch =
        crate::store::tmp::clean_stale(&tmp_root, true).map_err(io_err("clean", &tmp_root))?;
    store.with_index_locked(|idx| sweep(store, idx, &used, &mut report))??;
    info!(?report, "image gc done");
    Ok(report)
}

fn used_before(store: &Store, r: &ImageRecord, cutoff: SystemTime) -> bool {
    humantime::parse_rfc3339(&store.last_used(r))
        .map(|t| t < cutoff)
        .unwrap_or(false)
}

fn sweep(
    store: &Store,
    idx: &Index,
    used: &InUse,
    report: &mut GcReport,
) -> Result<(), StoreError> {
    for alg in ["sha256", "sha512"] {
        for (digest, path) in entries(&store.root().join("blobs").join(alg), alg)? {
            if !idx.references_blob(&digest) && !used.blobs.contains(&digest) {
                report.bytes += tree_size(&path).unwrap_or(0);
                remove_any(&path).map_err(io_err("remove", &path))?;
                report.blobs += 1;
                debug!(%digest, "removed blob");
            }
        }
    }
    for (diff_id, path) in entries(&store.root().join("layers/sha256"), "sha256")? {
        if !idx.references_layer(&diff_id) && !used.layers.contains(&diff_id) {
            report.bytes += tree_size(&path).unwrap_or(0);
            remove_any(&path).map_err(io_err("remove", &path))?;
            report.layers += 1;
            debug!(%diff_id, "removed layer");
        }
    }
    // Use markers of images that are gone.
    let used_dir = store.root().join("used");
    if let Ok(rd) = std::fs::read_dir(&used_dir) {
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().replacen('-', ":", 1);
            let known = name
                .parse::<Digest>()
                .is_ok_and(|d| idx.images.values().any(|r| r.id == d));
            if !known {
                remove_any(&entry.path()).map_err(io_err("remove", &entry.path()))?;
            }
        }
    }
    // With the store held exclusively no item lock is in use; drop those
    // of items that are gone.
    let locks = store.root().join("locks");
    for entry in std::fs::read_dir(&locks).map_err(io_err("read", &locks))? {
        let path = entry.map_err(io_err("read", &locks))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let digest = name
            .strip_suffix(".lock")
            .and_then(|s| s.replacen('-', ":", 1).parse::<Digest>().ok());
        let keep = digest.is_some_and(|d| store.has_blob(&d) || store.layer_dir(&d).exists());
        if !keep {
            remove_any(&path).map_err(io_err("remove", &path))?;
        }
    }
    Ok(())
}

/// The digest-named entries of a store directory; anything else there
/// (an interrupted rename's temp name) is returned with a bogus digest so
/// it is swept too.
fn entries(dir: &Path, alg: &str) -> Result<Vec<(Digest, std::path::PathBuf)>, StoreError> {
    let mut out = Vec::new();
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err("read", dir)(e)),
    };
    for entry in rd {
        let path = entry.map_err(io_err("read", dir))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let digest = format!("{alg}:{name}")
            .parse::<Digest>()
            .unwrap_or_else(|_| Digest::sha256_of(name.as_bytes()));
        out.push((digest, path));
    }
    Ok(out)
}
