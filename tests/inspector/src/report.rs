//! `report`: everything the tests compare between a pod and the host, as one JSON object.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::parse;
use crate::sys;

/// Paths a container runtime masks (Docker's and Podman's list; the tests' expectation,
/// independent of what the engine's own list says).
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
];

/// Paths a container runtime makes read-only.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Namespaces reported, as named in `/proc/self/ns`.
const NAMESPACES: &[&str] = &["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"];

/// Capability sets reported: JSON key and `/proc/self/status` field.
const CAP_SETS: &[(&str, &str)] = &[
    ("bounding", "CapBnd"),
    ("permitted", "CapPrm"),
    ("effective", "CapEff"),
    ("inheritable", "CapInh"),
    ("ambient", "CapAmb"),
];

/// The whole report.
pub fn report() -> Value {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |key| parse::status_field(&status, key).and_then(|v| v.parse::<u32>().ok());
    let [uid, gid, euid, egid] = sys::ids();
    json!({
        "pid": std::process::id(),
        "ppid": field("PPid"),
        "namespaces": namespaces(),
        "capabilities": capabilities(&status),
        "seccomp": field("Seccomp"),
        "no_new_privs": field("NoNewPrivs"),
        "uid": uid,
        "gid": gid,
        "euid": euid,
        "egid": egid,
        "groups": sys::groups().unwrap_or_default(),
        "hostname": sys::hostname().ok(),
        "oom_score_adj": fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok()),
        "cwd": link("/proc/self/cwd"),
        "fds": fds(),
        "masked": masked(),
        "readonly": readonly(),
        "root_write": root_write(),
        "cgroup": cgroup(),
        "dev": dev(),
        "interfaces": interfaces(),
        "processes": processes(),
    })
}

fn link(path: &str) -> Option<String> {
    fs::read_link(path)
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
}

fn namespaces() -> Value {
    let map: Map<String, Value> = NAMESPACES
        .iter()
        .map(|ns| {
            let inode = link(&format!("/proc/self/ns/{ns}"))
                .as_deref()
                .and_then(parse::namespace_inode);
            ((*ns).to_owned(), json!(inode))
        })
        .collect();
    Value::Object(map)
}

fn capabilities(status: &str) -> Value {
    let map: Map<String, Value> = CAP_SETS
        .iter()
        .map(|(key, field)| {
            let names = parse::status_field(status, field).and_then(parse::capability_names);
            ((*key).to_owned(), json!(names))
        })
        .collect();
    Value::Object(map)
}

/// `{fd, target}` for each open descriptor.
fn fds() -> Value {
    let fds = sys::open_fds().unwrap_or_default();
    fds.into_iter()
        .map(|fd| json!({ "fd": fd, "target": link(&format!("/proc/self/fd/{fd}")) }))
        .collect()
}

/// What reading a path gives: `missing`, `empty` or `content`, or the errno name of the
/// refusal; and what it is (`dir`, `file`, `char`, ...).
fn read_state(path: &Path) -> (String, &'static str) {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return ("missing".to_owned(), "none");
    };
    let kind = kind_of(&meta.file_type());
    let state = if meta.is_dir() {
        match fs::read_dir(path).map(|mut entries| entries.next().is_none()) {
            Ok(true) => "empty".to_owned(),
            Ok(false) => "content".to_owned(),
            Err(e) => sys::error_name(&e),
        }
    } else {
        use std::io::Read;
        let mut byte = [0u8; 1];
        match fs::File::open(path).and_then(|mut f| f.read(&mut byte)) {
            Ok(0) => "empty".to_owned(),
            Ok(_) => "content".to_owned(),
            Err(e) => sys::error_name(&e),
        }
    };
    (state, kind)
}

fn kind_of(t: &fs::FileType) -> &'static str {
    if t.is_dir() {
        "dir"
    } else if t.is_file() {
        "file"
    } else if t.is_symlink() {
        "symlink"
    } else if t.is_char_device() {
        "char"
    } else if t.is_block_device() {
        "block"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else {
        "other"
    }
}

fn masked() -> Value {
    let map: Map<String, Value> = MASKED_PATHS
        .iter()
        .map(|p| {
            let (state, kind) = read_state(Path::new(p));
            ((*p).to_owned(), json!({ "state": state, "kind": kind }))
        })
        .collect();
    Value::Object(map)
}

/// A regular file below `dir` (depth-first, a few levels) that has a write bit, else any
/// regular file: the file a write probe of a directory opens.
fn file_below(dir: &Path, depth: u32) -> Option<std::path::PathBuf> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    let mut fallback = None;
    for p in &entries {
        let Ok(meta) = fs::symlink_metadata(p) else {
            continue;
        };
        if meta.is_file() {
            if meta.mode() & 0o222 != 0 {
                return Some(p.clone());
            }
            fallback.get_or_insert_with(|| p.clone());
        }
    }
    if depth > 0 {
        for p in &entries {
            if fs::symlink_metadata(p).is_ok_and(|m| m.is_dir())
                && let Some(found) = file_below(p, depth - 1)
            {
                return Some(found);
            }
        }
    }
    fallback
}

/// For each read-only path: whether its mount is read-only, and what opening it (or a file
/// below it) for writing gives; nothing is ever written.
fn readonly() -> Value {
    let map: Map<String, Value> = READONLY_PATHS
        .iter()
        .map(|p| {
            let path = Path::new(p);
            let value = match fs::symlink_metadata(path) {
                Err(_) => json!({ "state": "missing" }),
                Ok(meta) => {
                    let probe = if meta.is_dir() {
                        file_below(path, 3)
                    } else {
                        Some(path.to_path_buf())
                    };
                    json!({
                        "mount_ro": sys::mount_read_only(path).ok(),
                        "probed": probe.as_ref().map(|f| f.to_string_lossy().into_owned()),
                        "state": probe.map_or_else(|| "no-file".to_owned(), |f| sys::write_probe(&f)),
                    })
                }
            };
            ((*p).to_owned(), value)
        })
        .collect();
    Value::Object(map)
}

/// Creating a file in `/`: `ok` (removed again) or the errno name.
fn root_write() -> String {
    let probe = format!("/.rukt-inspector-probe-{}", std::process::id());
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = fs::remove_file(&probe);
            "ok".to_owned()
        }
        Err(e) => sys::error_name(&e),
    }
}

/// Limit files read for each hierarchy: v1 controller, file; v2 files have no controller.
const CGROUP_FILES: &[(&str, &str)] = &[
    ("memory", "memory.limit_in_bytes"),
    ("memory", "memory.memsw.limit_in_bytes"),
    ("pids", "pids.max"),
    ("cpu", "cpu.cfs_quota_us"),
    ("cpu", "cpu.cfs_period_us"),
    ("cpu", "cpu.shares"),
    ("", "memory.max"),
    ("", "pids.max"),
    ("", "cpu.max"),
    ("", "cpu.weight"),
];

/// `/proc/self/cgroup` and the limits visible below `/sys/fs/cgroup`: each file is looked
/// for in the process's own cgroup directory, then at the hierarchy's root (which is the
/// process's own cgroup inside a cgroup namespace).
fn cgroup() -> Value {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut limits = Map::new();
    for (controller, file) in CGROUP_FILES {
        let root = if controller.is_empty() {
            if sys::fs_magic(Path::new("/sys/fs/cgroup")).ok() != Some(CGROUP2_MAGIC) {
                continue;
            }
            Path::new("/sys/fs/cgroup").to_path_buf()
        } else {
            Path::new("/sys/fs/cgroup").join(controller)
        };
        let rel = parse::cgroup_path(&own, controller).unwrap_or("/");
        let candidates = [
            root.join(rel.trim_start_matches('/')).join(file),
            root.join(file),
        ];
        if let Some(text) = candidates.iter().find_map(|p| fs::read_to_string(p).ok()) {
            let key = if controller.is_empty() {
                (*file).to_owned()
            } else {
                format!("{controller}/{file}")
            };
            limits.insert(key, json!(text.trim()));
        }
    }
    json!({
        "self": own.lines().collect::<Vec<_>>(),
        "limits": limits,
    })
}

/// `CGROUP2_SUPER_MAGIC`.
const CGROUP2_MAGIC: i64 = 0x6367_7270;

/// `/dev` entries, sub-directories' entries as `dir/name`: `{name, kind, target}`.
fn dev() -> Value {
    let mut out = Vec::new();
    walk_dev(Path::new("/dev"), "", 2, &mut out);
    out.sort_by(|a: &Value, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Value::Array(out)
}

fn walk_dev(dir: &Path, prefix: &str, depth: u32, out: &mut Vec<Value>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = format!("{prefix}{}", e.file_name().to_string_lossy());
        let Ok(meta) = fs::symlink_metadata(e.path()) else {
            continue;
        };
        let kind = kind_of(&meta.file_type());
        let target = meta
            .is_symlink()
            .then(|| fs::read_link(e.path()).ok())
            .flatten()
            .map(|t| t.to_string_lossy().into_owned());
        out.push(json!({ "name": name, "kind": kind, "target": target }));
        if meta.is_dir() && depth > 0 {
            walk_dev(&e.path(), &format!("{name}/"), depth - 1, out);
        }
    }
}

/// `{name, up}` for each interface in `/proc/net/dev`.
fn interfaces() -> Value {
    let text = fs::read_to_string("/proc/net/dev").unwrap_or_default();
    parse::net_interfaces(&text)
        .into_iter()
        .map(|name| {
            let up = sys::interface_up(&name).ok();
            json!({ "name": name, "up": up })
        })
        .collect()
}

/// `{pid, cmdline}` of every process in `/proc` (arguments joined by spaces).
fn processes() -> Value {
    let Ok(entries) = fs::read_dir("/proc") else {
        return json!([]);
    };
    let mut procs: Vec<(u32, String)> = entries
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let raw = fs::read(e.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&raw)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            Some((pid, cmdline))
        })
        .collect();
    procs.sort();
    procs
        .into_iter()
        .map(|(pid, cmdline)| json!({ "pid": pid, "cmdline": cmdline }))
        .collect()
}
