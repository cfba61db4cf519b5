//! One record line per call: what the stub was given, gathered before the
//! entrypoint runs, appended as one line of JSON to the record file. The
//! pod lock is checked (and, when held, kept for the process's life) here,
//! so `run` holds it as a real stage1 does.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use rukt_contract::runtime::{PodLock, load_manifest, pod_is_running};
use rukt_contract::{
    AppArgs, AppStopArgs, ENV_CGROUP_WARM_PID, ENV_LISTEN_FDNAMES, ENV_LISTEN_FDS, ENV_LISTEN_PID,
    ENV_LOCK_FD, ENV_NOTIFY_SOCKET, EnterArgs, Entrypoint, Feature, GcArgs, ListenFds, PodManifest,
    RunArgs, StopArgs,
};
use serde_json::{Value, json};

/// The environment variables recorded (`null` when unset).
const RECORDED_ENV: [&str; 6] = [
    ENV_LOCK_FD,
    ENV_LISTEN_FDS,
    ENV_LISTEN_FDNAMES,
    ENV_LISTEN_PID,
    ENV_NOTIFY_SOCKET,
    ENV_CGROUP_WARM_PID,
];

/// The inherited pod lock, once checked: kept open until the process ends.
static LOCK: OnceLock<PodLock> = OnceLock::new();

/// The pod lock this process holds, if it was handed one that was held.
pub fn lock() -> Option<&'static PodLock> {
    LOCK.get()
}

/// Everything about this call: entrypoint, parsed arguments (or why they do
/// not parse), argv, environment, the socket-activation descriptors it
/// describes for this PID, PID, working directory, open descriptors,
/// whether the lock descriptor holds the pod lock and, for `run`, the
/// manifest it loaded.
pub fn gather(argv: &[OsString], enforced: &[Feature]) -> Value {
    let entry = argv
        .first()
        .and_then(|w| Entrypoint::from_name(&w.to_string_lossy()));
    // Before anything opens a descriptor of its own.
    let fds = open_descriptors();
    let env: serde_json::Map<String, Value> = RECORDED_ENV
        .iter()
        .map(|name| (name.to_string(), std::env::var(name).ok().into()))
        .collect();
    let (args, usage_error) = match parsed_args(entry, argv) {
        Ok(args) => (args, Value::Null),
        Err(e) => (Value::Null, e.into()),
    };
    let (lock_held, lock_error) = check_lock();
    let warm_writer = warm_writer();
    let manifest = match (entry, args.get("uuid").and_then(Value::as_str)) {
        (Some(Entrypoint::Run), Some(uuid)) => match load_manifest(uuid) {
            Ok(m) => manifest_summary(&m, enforced),
            Err(e) => json!({ "error": format!("{:#}", anyhow::Error::from(e)) }),
        },
        _ => Value::Null,
    };
    json!({
        "entrypoint": entry.map(Entrypoint::name),
        "args": args,
        "usage_error": usage_error,
        "argv": argv.iter().map(|a| a.to_string_lossy()).collect::<Vec<_>>(),
        "env": env,
        "listen_fds": ListenFds::from_env().map(|l| json!({ "count": l.count, "names": l.names })),
        "pid": std::process::id(),
        "cwd": std::env::current_dir().ok().map(|d| d.display().to_string()),
        "fds": fds,
        "lock_held": lock_held,
        "lock_error": lock_error,
        "manifest": manifest,
        "warm_writer": warm_writer,
    })
}

/// The cgroup warm-up writer `RUKT_CGROUP_WARM_PID` names, taken over and
/// ended as an engine that declares `cgroup-warmup` must: whether it was
/// this process's child, and its descriptors once it has closed what it
/// inherited, or after 2 s (`null` without one).
fn warm_writer() -> Value {
    let Ok(pid) = std::env::var(ENV_CGROUP_WARM_PID) else {
        return Value::Null;
    };
    let fds = || -> Vec<String> {
        std::fs::read_dir(format!("/proc/{}/fd", pid.trim()))
            .map(|d| {
                d.flatten()
                    .filter_map(|e| Some(std::fs::read_link(e.path()).ok()?.display().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    };
    // Its first step closes what it inherited: on a busy host it may not
    // have been scheduled yet.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    let mut seen = fds();
    while seen.len() > 1 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
        seen = fds();
    }
    let fds = seen;
    let child = rukt_sys::warm::Writer::adopt(&pid).is_some();
    json!({ "child": child, "fds": fds })
}

/// Appends `record` as one line to `path`, creating its directory.
pub fn append(path: &Path, record: &Value) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut line = record.to_string();
    line.push('\n');
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .with_context(|| format!("cannot append to {}", path.display()))
}

/// `/proc/self/fd`: each open descriptor and what it points to, without
/// the one listing the directory.
fn open_descriptors() -> Value {
    let own = format!("/proc/{}/fd", std::process::id());
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Value::Null;
    };
    let mut fds: Vec<(i32, String)> = dir
        .flatten()
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?.display().to_string();
            (target != own).then_some((fd, target))
        })
        .collect();
    fds.sort();
    fds.into_iter()
        .map(|(fd, target)| json!({ "fd": fd, "target": target }))
        .collect()
}

/// Whether `RUKT_LOCK_FD` names a descriptor of the pod directory that
/// holds its lock: someone holds it (a shared try-lock of our own fails) and
/// that someone is this descriptor (the contract's takeover succeeds).
/// `null` when the variable is unset.
fn check_lock() -> (Value, Value) {
    if std::env::var_os(ENV_LOCK_FD).is_none() {
        return (Value::Null, Value::Null);
    }
    let held_by_anyone = match pod_is_running() {
        Ok(held) => held,
        Err(e) => {
            return (
                false.into(),
                format!("cannot test the pod lock: {e}").into(),
            );
        }
    };
    match PodLock::inherited() {
        Ok(lock) => {
            let _ = LOCK.set(lock);
            let error = (!held_by_anyone).then_some("the pod lock was not held");
            (held_by_anyone.into(), error.into())
        }
        Err(e) => (false.into(), e.to_string().into()),
    }
}

/// The entrypoint's arguments as the contract parses them.
fn parsed_args(entry: Option<Entrypoint>, argv: &[OsString]) -> Result<Value, String> {
    let err = |e: rukt_contract::ArgsError| e.to_string();
    Ok(match entry {
        None => return Err("unknown entrypoint".into()),
        Some(Entrypoint::InterfaceVersion | Entrypoint::Features) => json!({}),
        Some(Entrypoint::Run) => {
            let a = RunArgs::parse(argv).map_err(err)?;
            json!({ "debug": a.debug, "interactive": a.interactive, "uuid": a.uuid })
        }
        Some(Entrypoint::Enter) => {
            let a = EnterArgs::parse(argv).map_err(err)?;
            json!({ "debug": a.debug, "pid": a.pid, "app": a.app, "uuid": a.uuid, "command": a.command })
        }
        Some(Entrypoint::Stop) => {
            let a = StopArgs::parse(argv).map_err(err)?;
            json!({ "debug": a.debug, "force": a.force, "timeout_secs": a.timeout_secs, "uuid": a.uuid })
        }
        Some(Entrypoint::Gc) => {
            let a = GcArgs::parse(argv).map_err(err)?;
            json!({ "debug": a.debug, "uuid": a.uuid })
        }
        Some(Entrypoint::AppStop) => {
            let a = AppStopArgs::parse(argv).map_err(err)?;
            json!({
                "debug": a.debug, "force": a.force, "timeout_secs": a.timeout_secs,
                "app": a.app, "uuid": a.uuid,
            })
        }
        Some(
            Entrypoint::AppAdd | Entrypoint::AppStart | Entrypoint::AppRm | Entrypoint::AppUpdate,
        ) => {
            let (_, a) = AppArgs::parse(argv).map_err(err)?;
            json!({ "debug": a.debug, "app": a.app, "uuid": a.uuid })
        }
    })
}

/// What the record keeps of the manifest `run` loaded, with what it asks
/// that the stub does not declare (stage0 should have refused that).
fn manifest_summary(m: &PodManifest, enforced: &[Feature]) -> Value {
    let asked = m.features_asked();
    let unenforced: Vec<&str> = asked
        .iter()
        .filter(|f| !enforced.contains(f))
        .map(|f| f.name())
        .collect();
    json!({
        "interface_version": m.interface_version,
        "revision": m.revision,
        "apps": m.apps.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        "networks": m.networks.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(),
        "asked": asked.iter().map(|f| f.name()).collect::<Vec<_>>(),
        "unenforced": unenforced,
    })
}
