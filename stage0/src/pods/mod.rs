//! Pods on disk: finding, locking, creating and moving pod directories.

pub mod gc;
pub mod isolation;
pub mod mount;
pub mod prepare;
pub mod remove;
pub mod run;
pub mod spec;
pub mod state;
pub mod status;
pub mod user;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use rukt_contract::PodManifest;
use rukt_images::store::{FileLock, LockMode};

pub use state::{Dir, State};

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
        uuid: String,
        /// Its state.
        state: State,
        /// What to do instead.
        hint: &'static str,
    },
    /// Someone else holds the pod's lock.
    #[error("pod {0} is in use by another rukt process")]
    Busy(String),
    /// The pod manifest is unreadable.
    #[error("pod {uuid}: corrupt pod manifest")]
    Manifest {
        /// The pod.
        uuid: String,
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
    pub uuid: String,
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
                let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if uuid::Uuid::parse_str(&name).is_ok() {
                    out.push(Pod {
                        uuid: name,
                        dir: d,
                        path: entry.path(),
                    });
                }
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
            .filter(|p| !prefix.is_empty() && p.uuid.starts_with(prefix))
            .collect();
        match matches.len() {
            0 => Err(PodError::Unknown(prefix.to_string())),
            1 => Ok(matches.into_iter().next().expect("one match")),
            _ => Err(PodError::Ambiguous {
                prefix: prefix.to_string(),
                matches: matches.into_iter().map(|p| p.uuid).collect(),
            }),
        }
    }

    /// Re-finds a pod by full UUID after it may have moved.
    pub fn refind(&self, uuid: &str) -> Option<Pod> {
        Dir::ALL.into_iter().find_map(|d| {
            let path = self.state_dir(d).join(uuid);
            path.is_dir().then(|| Pod {
                uuid: uuid.to_string(),
                dir: d,
                path,
            })
        })
    }

    /// Moves a pod to another state directory (atomic rename).
    pub fn move_to(&self, pod: &Pod, to: Dir) -> Result<Pod, PodError> {
        let dest = self.state_dir(to).join(&pod.uuid);
        std::fs::rename(&pod.path, &dest).map_err(io_err("move", &pod.path))?;
        Ok(Pod {
            uuid: pod.uuid.clone(),
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
            uuid: self.uuid.clone(),
            source,
        })
    }
}

/// What every pod on disk uses from the image store (for `image gc`).
pub fn images_in_use(pods: &Pods) -> rukt_images::gc::InUse {
    let mut used = rukt_images::gc::InUse::default();
    for pod in pods.all().unwrap_or_default() {
        let Ok(m) = pod.manifest() else { continue };
        for app in &m.apps {
            let parse = |s: &str| s.parse::<rukt_images::digest::Digest>().ok();
            if let Some(id) = parse(&app.image.id) {
                used.images.insert(id.clone());
                used.blobs.insert(id);
            }
            used.blobs.extend(parse(&app.image.manifest));
            used.layers
                .extend(app.image.layers.iter().filter_map(|l| parse(l)));
        }
    }
    used
}

/// Image ID → UUID of a running pod that uses it.
pub fn images_of_running_pods(
    pods: &Pods,
) -> std::collections::HashMap<rukt_images::digest::Digest, String> {
    let mut out = std::collections::HashMap::new();
    for pod in pods.all().unwrap_or_default() {
        if pod.dir != Dir::Run || pod.state() != State::Running {
            continue;
        }
        let Ok(m) = pod.manifest() else { continue };
        for app in &m.apps {
            if let Ok(id) = app.image.id.parse() {
                out.insert(id, pod.uuid.clone());
            }
        }
    }
    out
}
