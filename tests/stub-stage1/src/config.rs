//! The stub's behaviour, from its environment, so a test can play an old or
//! a limited engine: which versions it speaks, what it declares to enforce,
//! how `run` ends, which entrypoints fail, and where the record goes.

use std::path::PathBuf;

use rukt_contract::{Entrypoint, Feature, INTERFACE_VERSION, MIN_INTERFACE_VERSION, STAGE1_DIR};

/// Versions to speak, comma-separated (`1` plays a version 1 stage1:
/// `interface-version` prints only 1 and `features` and `app-*` are unknown
/// entrypoints). Default: every version of the contract.
pub const ENV_VERSIONS: &str = "RUKT_STUB_VERSIONS";
/// Feature names to declare, comma-separated (empty: none; unknown names
/// are dropped). Default: every feature.
pub const ENV_FEATURES: &str = "RUKT_STUB_FEATURES";
/// `run`'s exit code and the status of every app. Default 0.
pub const ENV_EXIT: &str = "RUKT_STUB_EXIT";
/// Entrypoint names that fail (exit 254 with a message) after recording.
pub const ENV_FAIL: &str = "RUKT_STUB_FAIL";
/// The file the record lines are appended to. Default:
/// `stage1/record.jsonl` in the pod directory (the working directory),
/// except for `interface-version` and `features`, which stage0 runs
/// elsewhere and which are recorded only when this is set.
pub const ENV_RECORD: &str = "RUKT_STUB_RECORD";

/// When set (to anything), `run` stays running, holding the pod lock, until
/// `stop` (which writes [`RELEASE_FILE`]) or a minute has passed: a running
/// pod for `enter`, `stop` and `app-*`.
pub const ENV_HOLD: &str = "RUKT_STUB_HOLD";
/// Written by `stop` in the pod directory, ends a held `run`.
pub const RELEASE_FILE: &str = "stage1/release";

/// Whether `run` stays running.
pub fn hold() -> bool {
    std::env::var_os(ENV_HOLD).is_some()
}

/// The default record file, in the pod directory.
pub const RECORD_IN_POD: &str = "record.jsonl";

fn list(name: &str) -> Option<Vec<String>> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// The versions to speak.
pub fn versions() -> Vec<u32> {
    match list(ENV_VERSIONS) {
        Some(words) => words.iter().filter_map(|w| w.parse().ok()).collect(),
        None => (MIN_INTERFACE_VERSION..=INTERFACE_VERSION).collect(),
    }
}

/// The features to declare.
pub fn features() -> Vec<Feature> {
    match list(ENV_FEATURES) {
        Some(words) => words.iter().filter_map(|w| Feature::from_name(w)).collect(),
        None => Feature::ALL.to_vec(),
    }
}

/// `run`'s exit code; an unparsable value is an error of the test.
pub fn exit_code() -> anyhow::Result<u8> {
    match std::env::var(ENV_EXIT) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| anyhow::anyhow!("{ENV_EXIT}={v:?} is not an exit code")),
        Err(_) => Ok(0),
    }
}

/// Whether `entry` is to fail.
pub fn fails(entry: Entrypoint) -> bool {
    list(ENV_FAIL).is_some_and(|names| names.iter().any(|n| n == entry.name()))
}

/// Where `entry`'s record goes; `None`: not recorded.
pub fn record_path(entry: Option<Entrypoint>) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(ENV_RECORD) {
        return Some(path.into());
    }
    match entry {
        Some(Entrypoint::InterfaceVersion | Entrypoint::Features) => None,
        _ => Some(PathBuf::from(STAGE1_DIR).join(RECORD_IN_POD)),
    }
}
