//! Finding a stage1 and asking it what it is: the interface versions it
//! speaks (`interface-version`) and, from version 2, what it enforces
//! (`features`). The answers are cached in the store (`cache/stage0/`),
//! keyed by the executable's device, inode, size and mtime, so a run does
//! not spawn the stage1 to ask; replacing the binary invalidates the entry.
//!
//! `--stage1=FLAVOR` looks for `rukt-stage1-FLAVOR` in `$RUKT_STAGE1_DIR`,
//! next to the running executable, then in `/usr/lib/rukt/stage1`; anything
//! with a `/` is a path.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Output;

use rukt_contract::{Entrypoint, INTERFACE_VERSION, MIN_INTERFACE_VERSION, Stage1Features};
use rukt_images::store::fsutil::write_replace;

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
        "stage1 {path} speaks interface versions {versions:?}; this rukt speaks {MIN_INTERFACE_VERSION} to {INTERFACE_VERSION}"
    )]
    Incompatible {
        /// The executable.
        path: PathBuf,
        /// What it declared.
        versions: Vec<u32>,
    },
    /// It speaks version 2 or later but its `features` answer is unusable.
    #[error("stage1 {path} does not answer features")]
    NoFeatures {
        /// The executable.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Resolves `--stage1` to its flavor and executable.
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

/// Runs `entry` of the stage1 at `path` (no pod: from the caller's working
/// directory) and returns what it printed.
fn ask(path: &Path, entry: Entrypoint) -> std::io::Result<Output> {
    let mut cmd = super::command(path, Vec::new());
    cmd.arg(entry.name());
    let out = cmd.output()?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(std::io::Error::other(format!("{}: {said}", out.status)));
    }
    Ok(out)
}

/// Asks the stage1 at `path` for its versions and, if it speaks version 2
/// or later, its features; a version 1 stage1 gets
/// [`Stage1Features::version1`].
pub fn probe(path: &Path) -> Result<Stage1Features, Stage1Error> {
    let no_version = |source| Stage1Error::NoVersion {
        path: path.to_path_buf(),
        source,
    };
    let out = ask(path, Entrypoint::InterfaceVersion).map_err(no_version)?;
    let versions: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if versions.is_empty() {
        return Err(no_version(std::io::Error::other("it printed no version")));
    }
    let Some(agreed) = rukt_contract::agree(&versions) else {
        return Err(Stage1Error::Incompatible {
            path: path.to_path_buf(),
            versions,
        });
    };
    if agreed < Entrypoint::Features.since() {
        return Ok(Stage1Features {
            interface_versions: versions,
            ..Stage1Features::version1()
        });
    }
    let no_features = |source| Stage1Error::NoFeatures {
        path: path.to_path_buf(),
        source,
    };
    let out = ask(path, Entrypoint::Features).map_err(no_features)?;
    let mut features = Stage1Features::from_json(&out.stdout)
        .map_err(|e| no_features(std::io::Error::other(e)))?;
    // `interface-version` is the authority on versions.
    features.interface_versions = versions;
    Ok(features)
}

/// [`probe`], answered from `cache_dir` when the binary is unchanged.
pub fn probe_cached(path: &Path, cache_dir: &Path) -> Result<Stage1Features, Stage1Error> {
    let Ok(meta) = std::fs::metadata(path) else {
        return probe(path);
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
    let file = cache_dir.join(format!("stage1-{}-{}", meta.dev(), meta.ino()));
    if let Ok(text) = std::fs::read_to_string(&file)
        && let Some((k, json)) = text.split_once('\n')
        && k == key
        && let Ok(features) = Stage1Features::from_json(json.as_bytes())
    {
        return Ok(features);
    }
    let features = probe(path)?;
    let text = format!("{key}\n{}\n", features.to_json());
    // A cache: best effort, not synced.
    if let Err(e) =
        std::fs::create_dir_all(cache_dir).and_then(|()| write_replace(&file, text.as_bytes()))
    {
        tracing::debug!(error = %e, "cannot cache the stage1's interface versions");
    }
    Ok(features)
}
