//! Pods on disk: finding, locking and moving pod directories.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use rukt_contract::PodManifest;
use rukt_images::store::{FileLock, LockMode};

use crate::id::PodUuid;
use crate::state::{Dir, State};

/// Errors of the pod lifecycle.
#[derive(Debug, thiserror::Error)]
pub enum PodError {
    /// A filesystem operation failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// No pod has this UUID or prefix.
    #[error("no pod {0:?}")]
    Unknown(String),
    /// A prefix matches several pods.
    #[error("{prefix:?} is ambiguous: it matches {}", matches.join(", "))]
    Ambiguous {
        /// What was typed.
        prefix: String,
        /// The UUIDs it matches.
        matches: Vec<String>,
    },
    /// The pod is not in a state that allows this.
    #[error("pod {uuid} is {state}: {hint}")]
    WrongState {
        /// The pod.
        uuid: PodUuid,
        /// Its state.
        state: State,
        /// What to do instead.
        hint: &'static str,
    },
    /// The pod moved on while this command waited for it.
    #[error("pod {0} is no longer prepared")]
    NoLongerPrepared(PodUuid),
    /// Someone else holds the pod's lock.
    #[error("pod {0} is in use by another rukt process")]
    Busy(PodUuid),
    /// The pod manifest is unreadable.
    #[error("pod {uuid}: corrupt pod manifest")]
    Manifest {
        /// The pod.
        uuid: PodUuid,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
}

/// Maps an I/O error with context.
pub(crate) fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> PodError + 'a {
    move |source| PodError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// The pods directory of a store root (`<dir>/pods`).
#[derive(Debug, Clone)]
pub struct Pods {
    root: PathBuf,
}

/// A pod found on disk (not locked).
#[derive(Debug, Clone)]
pub struct Pod {
    /// Its UUID.
    pub uuid: PodUuid,
    /// The state directory it was found in.
    pub dir: Dir,
    /// Its directory.
    pub path: PathBuf,
}

impl Pods {
    /// The pods of the store at `store_root`, without creating anything
    /// (a store that never had pods simply has none).
    pub fn at(store_root: &Path) -> Pods {
        Pods {
            root: store_root.join("pods"),
        }
    }

    /// The pods of the store at `store_root`, creating the state dirs.
    pub fn open(store_root: &Path) -> Result<Pods, PodError> {
        let root = store_root.join("pods");
        for d in Dir::ALL {
            let p = root.join(d.name());
            std::fs::create_dir_all(&p).map_err(io_err("create", &p))?;
        }
        Ok(Pods { root })
    }

    /// The directory of state `d`.
    pub fn state_dir(&self, d: Dir) -> PathBuf {
        self.root.join(d.name())
    }

    /// Every pod, in no particular order. A pod moving between directories
    /// while this runs may be missed or seen twice; callers re-check.
    pub fn all(&self) -> Result<Vec<Pod>, PodError> {
        let mut out = Vec::new();
        for d in Dir::ALL {
            let dir = self.state_dir(d);
            let rd = match std::fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("read", &dir)(e)),
            };
            for entry in rd {
                let Ok(entry) = entry else { continue };
                let Some(uuid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                    continue;
                };
                out.push(Pod {
                    uuid,
                    dir: d,
                    path: entry.path(),
                });
            }
        }
        out.sort_by(|a, b| a.uuid.cmp(&b.uuid).then(a.dir.cmp(&b.dir)));
        out.dedup_by(|a, b| a.uuid == b.uuid);
        Ok(out)
    }

    /// The pod a full UUID or a unique prefix names.
    pub fn find(&self, prefix: &str) -> Result<Pod, PodError> {
        let prefix = prefix.trim();
        let matches: Vec<Pod> = self
            .all()?
            .into_iter()
            .filter(|p| p.uuid.has_prefix(prefix))
            .collect();
        match matches.len() {
            0 => Err(PodError::Unknown(prefix.to_string())),
            1 => Ok(matches.into_iter().next().expect("one match")),
            _ => Err(PodError::Ambiguous {
                prefix: prefix.to_string(),
                matches: matches.into_iter().map(|p| p.uuid.to_string()).collect(),
            }),
        }
    }

    /// Re-finds a pod by full UUID after it may have moved.
    pub fn refind(&self, uuid: PodUuid) -> Option<Pod> {
        Dir::ALL.into_iter().find_map(|d| {
            let path = self.state_dir(d).join(uuid.to_string());
            path.is_dir().then_some(Pod { uuid, dir: d, path })
        })
    }

    /// Moves a pod to another state directory (atomic rename).
    pub fn move_to(&self, pod: &Pod, to: Dir) -> Result<Pod, PodError> {
        let dest = self.state_dir(to).join(pod.uuid.to_string());
        std::fs::rename(&pod.path, &dest).map_err(io_err("move", &pod.path))?;
        Ok(Pod {
            uuid: pod.uuid,
            dir: to,
            path: dest,
        })
    }
}

impl Pod {
    /// Takes the pod lock without waiting; `None` when someone holds it
    /// or the pod moved away meanwhile (re-find it to retry).
    pub fn try_lock(&self, mode: LockMode) -> Result<Option<FileLock>, PodError> {
        let f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open", &self.path)(e)),
        };
        let lock = FileLock::from_file(f, self.path.clone(), mode, false)
            .map_err(io_err("lock", &self.path))?;
        // Locked, but is it still here? A mover holds the lock while renaming.
        Ok(lock.filter(|_| self.path.is_dir()))
    }

    /// Whether someone holds the pod lock (stage1 of a running pod).
    pub fn is_locked(&self) -> bool {
        matches!(self.try_lock(LockMode::Shared), Ok(None))
    }

    /// The pod's state, probing its lock.
    pub fn state(&self) -> State {
        let lockable = matches!(self.dir, Dir::Prepare | Dir::Run | Dir::ExitedGarbage);
        self.dir.state(lockable && self.is_locked())
    }

    /// Reads the pod manifest.
    pub fn manifest(&self) -> Result<PodManifest, PodError> {
        let p = self.path.join(rukt_contract::POD_MANIFEST);
        let data = std::fs::read(&p).map_err(io_err("read", &p))?;
        PodManifest::from_json(&data).map_err(|source| PodError::Manifest {
            uuid: self.uuid,
            source,
        })
    }
}

/// The manifest lock of a pod (`pod.lock`): whoever rewrites a running
/// pod's manifest holds it exclusively; the manifest itself is replaced
/// atomically, so a reader without the lock still sees a whole one.
pub struct ManifestLock<'a> {
    pod: &'a Pod,
    _lock: FileLock,
}

impl<'a> ManifestLock<'a> {
    /// Waits for the lock and takes it exclusively.
    pub fn exclusive(pod: &'a Pod) -> Result<ManifestLock<'a>, PodError> {
        let path = pod.path.join(rukt_contract::MANIFEST_LOCK);
        let lock = FileLock::acquire(&path, LockMode::Exclusive).map_err(io_err("lock", &path))?;
        Ok(ManifestLock { pod, _lock: lock })
    }

    /// The manifest as it is now.
    pub fn read(&self) -> Result<PodManifest, PodError> {
        self.pod.manifest()
    }

    /// Replaces the manifest with `manifest`, one revision later, durably.
    pub fn write(&self, manifest: &mut PodManifest) -> Result<(), PodError> {
        manifest.revision += 1;
        let path = self.pod.path.join(rukt_contract::POD_MANIFEST);
        rukt_sys::atomic::write_atomic(&path, &manifest.to_json()).map_err(io_err("write", &path))
    }
}
