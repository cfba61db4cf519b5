//! The CRI's own metadata, kept in each pod's directory so that nothing
//! lives only in `rukt-cri`'s memory: `cri/sandbox.json` for the sandbox
//! (metadata, labels and annotations verbatim, creation time, handler, log
//! directory, its state as the CRI last moved it) and
//! `cri/containers/<id>.json` for each container (metadata, image, times,
//! log path, mounts, the rukt app it is). Every file is replaced
//! atomically and durably (`rukt_sys::atomic`) under the pod's manifest
//! lock (`pod.lock`), so readers, who take no lock, always see a whole
//! record. The pod directory goes with `rukt rm`/gc, and its records with
//! it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rukt_pods::Pod;
use rukt_pods::pod::ManifestLock;
use serde::{Deserialize, Serialize};

/// The records' format version.
pub const VERSION: u32 = 1;
const SANDBOX: &str = "cri/sandbox.json";
const CONTAINERS: &str = "cri/containers";

/// Why a record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A file operation failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A record does not parse.
    #[error("corrupt CRI record {path}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// The manifest lock could not be taken.
    #[error(transparent)]
    Pod(#[from] rukt_pods::PodError),
}

fn io_err<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> RecordError + 'a {
    move |source| RecordError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Kubernetes' name for a sandbox or container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Name.
    pub name: String,
    /// The pod's UID (sandboxes only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// The pod's namespace (sandboxes only).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Which attempt this is.
    pub attempt: u32,
}

/// What the CRI last did to a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxState {
    /// Started by RunPodSandbox.
    Ready,
    /// Stopped by StopPodSandbox.
    NotReady,
}

/// A sandbox: one rukt pod made by RunPodSandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRecord {
    /// [`VERSION`].
    pub version: u32,
    /// The sandbox id: the pod's UUID.
    pub id: String,
    /// Kubernetes' metadata.
    pub metadata: Metadata,
    /// Labels, verbatim.
    pub labels: BTreeMap<String, String>,
    /// Annotations, verbatim.
    pub annotations: BTreeMap<String, String>,
    /// When it was created, ns since the epoch.
    pub created_at: i64,
    /// The runtime handler (an engine: nspawn, kvm, fly).
    pub handler: String,
    /// Where kubelet wants the containers' logs (may be empty).
    pub log_directory: String,
    /// The host's network (`NamespaceOption.network = NODE`).
    pub host_network: bool,
    /// The cgroup parent kubelet asked for (recorded, see docs/cri.md).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cgroup_parent: String,
    /// Its CRI state.
    pub state: SandboxState,
    /// The boot it was created in (`/proc/sys/kernel/random/boot_id`).
    pub boot_id: String,
}

/// A bind mount of a container, echoed in ContainerStatus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    /// Path in the container.
    pub container_path: String,
    /// Path on the host.
    pub host_path: String,
    /// Read-only.
    pub readonly: bool,
    /// The CRI propagation value (0 private, 1 host-to-container, 2 bidirectional).
    pub propagation: i32,
}

/// What the CRI last did to a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ContainerPhase {
    /// Made by CreateContainer.
    Created,
    /// Started by StartContainer.
    Started,
}

/// A container: one app of a sandbox's pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// [`VERSION`].
    pub version: u32,
    /// The container id (64 hex digits).
    pub id: String,
    /// The sandbox (pod UUID).
    pub sandbox_id: String,
    /// Kubernetes' metadata (name, attempt).
    pub metadata: Metadata,
    /// The image as the request named it.
    pub image: String,
    /// The image id it resolved to (the config digest).
    pub image_ref: String,
    /// Labels, verbatim.
    pub labels: BTreeMap<String, String>,
    /// Annotations, verbatim.
    pub annotations: BTreeMap<String, String>,
    /// Created, ns since the epoch.
    pub created_at: i64,
    /// Started, ns since the epoch (0 until then).
    pub started_at: i64,
    /// The log file (log_directory/log_path), empty for none.
    pub log_path: String,
    /// Its bind mounts.
    pub mounts: Vec<MountRecord>,
    /// The rukt app name in the pod.
    pub app: String,
    /// Its CRI phase.
    pub phase: ContainerPhase,
}

/// Creates `cri/containers` in the pod directory.
fn ensure_dirs(pod: &Pod) -> Result<(), RecordError> {
    let d = pod.path.join(CONTAINERS);
    std::fs::create_dir_all(&d).map_err(io_err("create", &d))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, RecordError> {
    match std::fs::read(path) {
        Ok(data) => {
            serde_json::from_slice(&data)
                .map(Some)
                .map_err(|source| RecordError::Corrupt {
                    path: path.to_path_buf(),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), RecordError> {
    let data = serde_json::to_vec_pretty(value).expect("records serialise");
    rukt_sys::atomic::write_atomic(path, &data).map_err(io_err("write", path))
}

/// The sandbox record of `pod`, if it is a CRI sandbox.
pub fn read_sandbox(pod: &Pod) -> Result<Option<SandboxRecord>, RecordError> {
    read_json(&pod.path.join(SANDBOX))
}

/// Writes (replaces) the sandbox record.
pub fn write_sandbox(pod: &Pod, rec: &SandboxRecord) -> Result<(), RecordError> {
    let _lock = ManifestLock::exclusive(pod)?;
    ensure_dirs(pod)?;
    write_json(&pod.path.join(SANDBOX), rec)
}

/// Changes the sandbox record under the lock; `false` when it has none.
pub fn update_sandbox(pod: &Pod, f: impl FnOnce(&mut SandboxRecord)) -> Result<bool, RecordError> {
    let _lock = ManifestLock::exclusive(pod)?;
    let path = pod.path.join(SANDBOX);
    let Some(mut rec) = read_json::<SandboxRecord>(&path)? else {
        return Ok(false);
    };
    f(&mut rec);
    write_json(&path, &rec)?;
    Ok(true)
}

fn container_path(pod: &Pod, id: &str) -> PathBuf {
    pod.path.join(CONTAINERS).join(format!("{id}.json"))
}

/// Every container record of `pod`, oldest first.
pub fn read_containers(pod: &Pod) -> Result<Vec<ContainerRecord>, RecordError> {
    let dir = pod.path.join(CONTAINERS);
    let rd = match std::fs::read_dir(&dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read", &dir)(e)),
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
            continue;
        };
        if !valid_id(id) {
            continue;
        }
        if let Some(r) = read_json::<ContainerRecord>(&e.path())? {
            out.push(r);
        }
    }
    out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(out)
}

/// Writes (replaces) a container record.
pub fn write_container(pod: &Pod, rec: &ContainerRecord) -> Result<(), RecordError> {
    let _lock = ManifestLock::exclusive(pod)?;
    ensure_dirs(pod)?;
    write_json(&container_path(pod, &rec.id), rec)
}

/// Changes a container record under the lock; `false` when there is none.
pub fn update_container(
    pod: &Pod,
    id: &str,
    f: impl FnOnce(&mut ContainerRecord),
) -> Result<bool, RecordError> {
    let _lock = ManifestLock::exclusive(pod)?;
    let path = container_path(pod, id);
    let Some(mut rec) = read_json::<ContainerRecord>(&path)? else {
        return Ok(false);
    };
    f(&mut rec);
    write_json(&path, &rec)?;
    Ok(true)
}

/// Removes a container record (gone already is fine).
pub fn remove_container(pod: &Pod, id: &str) -> Result<(), RecordError> {
    let _lock = ManifestLock::exclusive(pod)?;
    let path = container_path(pod, id);
    match std::fs::remove_file(&path) {
        Ok(()) => {
            rukt_sys::atomic::sync_dir(&pod.path.join(CONTAINERS)).map_err(io_err("sync", &path))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err("remove", &path)(e)),
    }
}

/// A container id as rukt-cri makes them: 64 lowercase hex digits.
pub fn valid_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A fresh container id.
pub fn new_container_id() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// This boot's id, to tell records of an earlier boot.
pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(dir: &Path) -> Pod {
        let uuid = rukt_pods::PodUuid::new_random();
        let path = dir.join(uuid.to_string());
        std::fs::create_dir_all(&path).unwrap();
        Pod {
            uuid,
            dir: rukt_pods::Dir::Run,
            path,
        }
    }

    fn sandbox(id: &str) -> SandboxRecord {
        SandboxRecord {
            version: VERSION,
            id: id.into(),
            metadata: Metadata {
                name: "web".into(),
                uid: "u1".into(),
                namespace: "default".into(),
                attempt: 1,
            },
            labels: [("app".to_string(), "x=y,z".to_string())].into(),
            annotations: [("a/b".to_string(), "{\"json\": true}".to_string())].into(),
            created_at: 1_700_000_000_123_456_789,
            handler: "nspawn".into(),
            log_directory: "/var/log/pods/x".into(),
            host_network: false,
            cgroup_parent: String::new(),
            state: SandboxState::Ready,
            boot_id: boot_id(),
        }
    }

    fn container(sandbox: &str, created_at: i64) -> ContainerRecord {
        ContainerRecord {
            version: VERSION,
            id: new_container_id(),
            sandbox_id: sandbox.into(),
            metadata: Metadata {
                name: "c".into(),
                attempt: 0,
                ..Metadata::default()
            },
            image: "busybox".into(),
            image_ref: "sha256:00".into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            created_at,
            started_at: 0,
            log_path: String::new(),
            mounts: vec![],
            app: "c-0".into(),
            phase: ContainerPhase::Created,
        }
    }

    #[test]
    fn records_round_trip_verbatim_and_update_under_the_lock() {
        let d = tempfile::tempdir().unwrap();
        let p = pod(d.path());
        assert_eq!(read_sandbox(&p).unwrap(), None);
        let s = sandbox(&p.uuid.to_string());
        write_sandbox(&p, &s).unwrap();
        assert_eq!(read_sandbox(&p).unwrap(), Some(s.clone()));
        assert!(update_sandbox(&p, |r| r.state = SandboxState::NotReady).unwrap());
        assert_eq!(
            read_sandbox(&p).unwrap().unwrap().state,
            SandboxState::NotReady
        );

        let (a, b) = (container(&s.id, 2), container(&s.id, 1));
        write_container(&p, &a).unwrap();
        write_container(&p, &b).unwrap();
        let ids: Vec<_> = read_containers(&p)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids, [b.id.clone(), a.id.clone()], "oldest first");
        assert!(update_container(&p, &a.id, |c| c.started_at = 5).unwrap());
        let find = |id: &str| {
            read_containers(&p)
                .unwrap()
                .into_iter()
                .find(|c| c.id == id)
        };
        assert_eq!(find(&a.id).unwrap().started_at, 5);
        remove_container(&p, &a.id).unwrap();
        remove_container(&p, &a.id).unwrap();
        assert_eq!(find(&a.id), None);
        assert!(!update_container(&p, &a.id, |_| {}).unwrap());
        // A file that is not a record's is not read as one.
        std::fs::write(p.path.join(CONTAINERS).join("x.json"), "{").unwrap();
        assert_eq!(read_containers(&p).unwrap().len(), 1);
    }

    #[test]
    fn a_corrupt_record_is_an_error_not_a_missing_one() {
        let d = tempfile::tempdir().unwrap();
        let p = pod(d.path());
        std::fs::create_dir_all(p.path.join(CONTAINERS)).unwrap();
        std::fs::write(p.path.join(SANDBOX), "{").unwrap();
        assert!(matches!(read_sandbox(&p), Err(RecordError::Corrupt { .. })));
        assert!(valid_id(&new_container_id()));
    }
}
