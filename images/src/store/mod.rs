//! The content-addressed image store under `--dir` (default `/var/lib/rukt`).
//!
//! ```text
//! images.json                      name → image record (atomic replace)
//! images.lock                      guards read-modify-write of images.json
//! store.lock                       shared by every fetch, exclusive for gc/rollback
//! blobs/<alg>/<hex>                manifests, configs, compressed layers
//! layers/<alg>/<diff_id hex>/      one unpacked layer: rootfs/ + layer.json
//! locks/<alg>-<hex>.lock           serialises creation of one blob/layer
//! used/<alg>-<hex>                 mtime = when a pod last used that image
//! tmp/<owner>/ + tmp/<owner>.lock  in-flight work of a live process
//! ```
//!
//! Nothing appears under `blobs/` or `layers/` before it was verified and
//! synced; an image appears in `images.json` only after all its content did.
//! See `docs/on-disk-format.md`.

pub mod fsutil;
pub mod index;
pub mod tmp;

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
pub use index::{ImageRecord, Index, IndexError, LayerRecord};
/// The store's locks are `rukt-sys`'s (`store::lock` kept as a path).
pub use rukt_sys::lock::{self, FileLock, LockMode};
pub use tmp::TmpArea;

/// Errors opening or changing the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("store: cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `images.json` is unreadable.
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// Shorthand for mapping an I/O error with context.
pub(crate) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// What `layers/<alg>/<hex>/layer.json` says about an unpacked layer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerMeta {
    /// The uncompressed tar's digest.
    pub diff_id: Digest,
    /// Bytes of regular files in the layer.
    pub size: u64,
    /// Number of tar entries unpacked.
    pub entries: u64,
}

/// An opened store.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store at `root` as it is, creating nothing (for read-only
    /// readers such as the API service).
    pub fn at(root: &Path) -> Store {
        Store {
            root: root.to_path_buf(),
        }
    }

    /// Opens (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        for sub in [
            "blobs/sha256",
            "blobs/sha512",
            "layers/sha256",
            "locks",
            "tmp",
        ] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(io_err("create", &p))?;
        }
        Ok(Store {
            root: root.to_path_buf(),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives.
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("blobs")
            .join(d.algorithm().name())
            .join(d.hex())
    }

    /// The directory of an unpacked layer.
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root
            .join("layers")
            .join(diff_id.algorithm().name())
            .join(diff_id.hex())
    }

    /// The root filesystem of an unpacked layer (an overlayfs lower dir).
    pub fn layer_rootfs(&self, diff_id: &Digest) -> PathBuf {
        self.layer_dir(diff_id).join("rootfs")
    }

    /// Whether the blob is stored.
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    /// Whether the layer is unpacked.
    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).join("layer.json").is_file()
    }

    /// Reads an unpacked layer's metadata.
    pub fn layer_meta(&self, diff_id: &Digest) -> Result<LayerMeta, StoreError> {
        let p = self.layer_dir(diff_id).join("layer.json");
        let data = std::fs::read(&p).map_err(io_err("read", &p))?;
        serde_json::from_slice(&data).map_err(|e| StoreError::Io {
            action: "parse",
            path: p,
            source: io::Error::other(e),
        })
    }

    /// Reads a whole stored blob (manifests and configs; small).
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        let p = self.blob_path(d);
        std::fs::read(&p).map_err(io_err("read", &p))
    }

    /// Records that a pod used image `id` now: the mtime of
    /// `used/<alg>-<hex>`. Not synced: losing one such update is harmless,
    /// and pods start without rewriting `images.json`.
    pub fn mark_used(&self, id: &Digest) {
        let dir = self.root.join("used");
        let path = dir.join(format!("{}-{}", id.algorithm().name(), id.hex()));
        let touch = || -> io::Result<()> {
            std::fs::create_dir_all(&dir)?;
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)?;
            f.set_modified(std::time::SystemTime::now())
        };
        if let Err(e) = touch() {
            tracing::debug!(error = %e, "cannot record image use");
        }
    }

    /// When `rec` was last fetched or used by a pod (RFC 3339).
    pub fn last_used(&self, rec: &ImageRecord) -> String {
        let path =
            self.root
                .join("used")
                .join(format!("{}-{}", rec.id.algorithm().name(), rec.id.hex()));
        let marker = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let recorded = humantime::parse_rfc3339_weak(&rec.last_used).ok();
        match (marker, recorded) {
            (Some(m), Some(r)) if m > r => humantime::format_rfc3339_seconds(m).to_string(),
            (Some(m), None) => humantime::format_rfc3339_seconds(m).to_string(),
            _ => rec.last_used.clone(),
        }
    }

    /// `tmp/`, for scratch areas.
    pub fn tmp_root(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The lock file that serialises creating a blob or layer.
    pub fn item_lock_path(&self, d: &Digest) -> PathBuf {
        self.root
            .join("locks")
            .join(format!("{}-{}.lock", d.algorithm().name(), d.hex()))
    }

    /// Takes the store-wide lock: shared while fetching, exclusive to
    /// remove unreferenced content.
    pub fn lock_store(&self, mode: LockMode) -> Result<FileLock, StoreError> {
        let p = self.root.join("store.lock");
        FileLock::acquire(&p, mode).map_err(io_err("lock", &p))
    }

    /// Like [`Store::lock_store`] without waiting.
    pub fn try_lock_store(&self, mode: LockMode) -> Result<Option<FileLock>, StoreError> {
        let p = self.root.join("store.lock");
        FileLock::try_acquire(&p, mode).map_err(io_err("lock", &p))
    }

    /// Reads the index without locking (it is replaced atomically).
    pub fn index(&self) -> Result<Index, StoreError> {
        Ok(Index::load(&self.root.join("images.json"))?)
    }

    /// Read-modify-write of the index under `images.lock`.
    pub fn update_index<T>(&self, f: impl FnOnce(&mut Index) -> T) -> Result<T, StoreError> {
        let lock_path = self.root.join("images.lock");
        let _lock = FileLock::acquire(&lock_path, LockMode::Exclusive)
            .map_err(io_err("lock", &lock_path))?;
        let path = self.root.join("images.json");
        let mut index = Index::load(&path)?;
        let out = f(&mut index);
        index.save(&path)?;
        Ok(out)
    }

    /// Holds `images.lock` while `f` runs with the current index, without
    /// writing it (gc decides under it what is unreferenced).
    pub fn with_index_locked<T>(&self, f: impl FnOnce(&Index) -> T) -> Result<T, StoreError> {
        let lock_path = self.root.join("images.lock");
        let _lock = FileLock::acquire(&lock_path, LockMode::Exclusive)
            .map_err(io_err("lock", &lock_path))?;
        let index = Index::load(&self.root.join("images.json"))?;
        Ok(f(&index))
    }
}
