//! The one way into a stage1: finding it, asking which interface versions
//! it speaks, and the [`Stage1`] handle that runs each of its entrypoints
//! (from a read-only view of its binary, in the pod directory).
//!
//! `--stage1=FLAVOR` looks for `rukt-stage1-FLAVOR` in `$RUKT_STAGE1_DIR`,
//! next to the running executable, then in `/usr/lib/rukt/stage1`; anything
//! with a `/` is a path.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use rukt_contract::{Entrypoint, INTERFACE_VERSION, PodManifest, Stage1Info};
use rukt_images::store::fsutil::write_replace;

use crate::exe_guard::Stage1Command;
use crate::pod::Pod;

/// The default engine.
pub const DEFAULT_FLAVOR: &str = "nspawn";
/// The system-wide stage1 directory.
pub const SYSTEM_DIR: &str = "/usr/lib/rukt/stage1";

/// Why a stage1 cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum Stage1Error {
    /// Nothing found.
    #[error("stage1 {flavor:?} not found (looked in {})", looked.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "))]
    NotFound {
        /// What was asked for.
        flavor: String,
        /// Where we looked.
        looked: Vec<PathBuf>,
    },
    /// It did not answer `interface-version`.
    #[error("stage1 {path} does not answer interface-version")]
    NoVersion {
        /// The executable.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It speaks no version we know.
    #[error(
        "stage1 {path} speaks interface versions {versions:?}; this rukt speaks up to {INTERFACE_VERSION}"
    )]
    Incompatible {
        /// The executable.
        path: PathBuf,
        /// What it declared.
        versions: Vec<u32>,
    },
}

/// Resolves `--stage1` to an executable.
pub fn locate(flavor_or_path: &str) -> Result<(String, PathBuf), Stage1Error> {
    if flavor_or_path.contains('/') {
        let p =
            std::path::absolute(flavor_or_path).unwrap_or_else(|_| PathBuf::from(flavor_or_path));
        let flavor = p
            .file_name()
            .map(|n| {
                n.to_string_lossy()
                    .trim_start_matches("rukt-stage1-")
                    .to_string()
            })
            .unwrap_or_default();
        return if p.is_file() {
            Ok((flavor, p))
        } else {
            Err(Stage1Error::NotFound {
                flavor: flavor_or_path.into(),
                looked: vec![p],
            })
        };
    }
    let name = format!("rukt-stage1-{flavor_or_path}");
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("RUKT_STAGE1_DIR") {
        dirs.push(PathBuf::from(d));
    }
    if let Some(d) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        dirs.push(d);
    }
    dirs.push(PathBuf::from(SYSTEM_DIR));
    let looked: Vec<PathBuf> = dirs.iter().map(|d| d.join(&name)).collect();
    match looked.iter().find(|p| p.is_file()) {
        Some(p) => Ok((flavor_or_path.to_string(), p.clone())),
        None => Err(Stage1Error::NotFound {
            flavor: flavor_or_path.into(),
            looked,
        }),
    }
}

/// Locates a stage1 and asks it for its interface versions.
fn probe(flavor_or_path: &str) -> Result<Stage1Info, Stage1Error> {
    let (flavor, path) = locate(flavor_or_path)?;
    let out = Command::new(&path)
        .arg(Entrypoint::InterfaceVersion.name())
        .output()
        .map_err(|source| Stage1Error::NoVersion {
            path: path.clone(),
            source,
        })?;
    let versions: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if !out.status.success() || versions.is_empty() {
        return Err(Stage1Error::NoVersion {
            path,
            source: std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()),
        });
    }
    if !versions.iter().any(|v| *v <= INTERFACE_VERSION) {
        return Err(Stage1Error::Incompatible { path, versions });
    }
    Ok(Stage1Info {
        flavor,
        path,
        interface_versions: versions,
    })
}

/// Like [`probe`], remembering the answer in `cache_dir` keyed by the
/// executable's device, inode, size and mtime, so that a run does not spawn
/// the stage1 twice; replacing the binary invalidates the entry.
fn probe_cached(flavor_or_path: &str, cache_dir: &Path) -> Result<Stage1Info, Stage1Error> {
    use std::os::unix::fs::MetadataExt;
    let (flavor, path) = locate(flavor_or_path)?;
    let Ok(meta) = std::fs::metadata(&path) else {
        return probe(flavor_or_path);
    };
    let key = format!(
        "{} {} {} {}.{} {}",
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        path.display()
    );
    let file = cache_dir.join(format!("{}-{}", meta.dev(), meta.ino()));
    if let Ok(text) = std::fs::read_to_string(&file)
        && let Some((k, versions)) = text.split_once('\n')
        && k == key
    {
        let versions: Vec<u32> = versions
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
        if !versions.is_empty() {
            return Ok(Stage1Info {
                flavor,
                path,
                interface_versions: versions,
            });
        }
    }
    let info = probe(flavor_or_path)?;
    let text = format!(
        "{key}\n{}\n",
        info.interface_versions
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    // A cache: best effort, not synced.
    if let Err(e) =
        std::fs::create_dir_all(cache_dir).and_then(|()| write_replace(&file, text.as_bytes()))
    {
        tracing::debug!(error = %e, "cannot cache the stage1's interface versions");
    }
    Ok(info)
}

/// The version to use with a stage1: the highest both sides speak.
fn agreed_version(info: &Stage1Info) -> u32 {
    info.interface_versions
        .iter()
        .copied()
        .filter(|v| *v <= INTERFACE_VERSION)
        .max()
        .unwrap_or(INTERFACE_VERSION)
}

/// A stage1 and the interface version agreed with it: every call into a
/// stage1 goes through this.
#[derive(Debug, Clone)]
pub struct Stage1 {
    info: Stage1Info,
    version: u32,
}

impl Stage1 {
    /// Finds `flavor_or_path` and agrees on a version with it (the answer is
    /// cached in the store at `store_root`).
    pub fn probe(flavor_or_path: &str, store_root: &Path) -> Result<Stage1, Stage1Error> {
        let info = probe_cached(flavor_or_path, &store_root.join("cache/stage1"))?;
        Ok(Stage1 {
            version: agreed_version(&info),
            info,
        })
    }

    /// The stage1 a prepared or running pod was made for.
    pub fn of(manifest: &PodManifest) -> Stage1 {
        Stage1 {
            info: manifest.stage1.clone(),
            version: manifest.interface_version,
        }
    }

    /// Where it is and what it declared.
    pub fn info(&self) -> &Stage1Info {
        &self.info
    }

    /// The interface version both sides speak.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The command for one entrypoint of `pod`, started in the pod directory.
    fn command(&self, pod: &Pod, argv: Vec<OsString>) -> Stage1Command {
        let mut cmd = crate::exe_guard::command(&self.info.path);
        cmd.args(argv).current_dir(&pod.path);
        cmd
    }

    /// Execs an entrypoint that becomes the caller (`run`, `enter`), with
    /// `env` added; returns only if exec failed.
    pub fn exec(&self, pod: &Pod, argv: Vec<OsString>, env: &[(&str, String)]) -> std::io::Error {
        let mut cmd = self.command(pod, argv);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        cmd.exec()
    }

    /// Runs an entrypoint that returns (`stop`, `gc`) and waits for it.
    pub fn call(&self, pod: &Pod, argv: Vec<OsString>) -> std::io::Result<ExitStatus> {
        self.command(pod, argv).status()
    }
}
