//! What a pod attached, kept in its directory (`net/attachments.json`) so
//! that anyone can undo it later, whatever happened to the process that
//! made it: the namespace's path, and per network its interface, its
//! `CNI_ARGS` and, once ADD returned, its result. Every attachment is
//! written (and synced) *before* the namespace is made and any ADD runs,
//! since every ADD, even one that failed half-way, must get its DEL (a DEL of
//! something never added succeeds).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use rukt_contract::NET_DIR;

/// The record's file name inside the pod's `net/`.
pub const ATTACHMENTS_FILE: &str = "attachments.json";

/// One network attached, or being attached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// The network's name (its configuration is `net/<name>.conflist`).
    pub network: String,
    /// The interface inside the pod.
    pub ifname: String,
    /// `CNI_ARGS`.
    #[serde(default)]
    pub args: BTreeMap<String, String>,
    /// ADD's result; `None` until it returned.
    #[serde(default)]
    pub result: Option<serde_json::Value>,
}

/// The whole record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The pod's network namespace file.
    pub netns: PathBuf,
    /// In the order they were attached.
    pub attachments: Vec<Attachment>,
}

/// The record's path in `pod_dir`.
pub fn path(pod_dir: &Path) -> PathBuf {
    pod_dir.join(NET_DIR).join(ATTACHMENTS_FILE)
}

impl Record {
    /// The record of `pod_dir`; `None` if it has none (nothing attached,
    /// or all of it undone).
    pub fn load(pod_dir: &Path) -> std::io::Result<Option<Record>> {
        match std::fs::read(path(pod_dir)) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes it durably (a reboot must not lose what leases to free).
    pub fn save(&self, pod_dir: &Path) -> std::io::Result<()> {
        self.write(pod_dir, true)
    }

    /// Writes it atomically but without waiting for the disk: for adding
    /// ADD's results to a record already saved durably (DEL works without
    /// them, they only make it more precise).
    pub fn update(&self, pod_dir: &Path) -> std::io::Result<()> {
        self.write(pod_dir, false)
    }

    fn write(&self, pod_dir: &Path, durable: bool) -> std::io::Result<()> {
        let p = path(pod_dir);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let data = serde_json::to_vec_pretty(self).expect("a record serialises");
        if durable {
            rukt_sys::atomic::write_atomic(&p, &data)
        } else {
            rukt_sys::atomic::write_replace(&p, &data)
        }
    }

    /// Removes it once everything in it is undone.
    pub fn remove(pod_dir: &Path) -> std::io::Result<()> {
        match std::fs::remove_file(path(pod_dir)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_remove() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(Record::load(tmp.path()).unwrap(), None);
        let r = Record {
            netns: "/run/netns/rukt-x".into(),
            attachments: vec![Attachment {
                network: "default".into(),
                ifname: "eth0".into(),
                args: BTreeMap::new(),
                result: None,
            }],
        };
        r.save(tmp.path()).unwrap();
        assert_eq!(Record::load(tmp.path()).unwrap(), Some(r));
        Record::remove(tmp.path()).unwrap();
        Record::remove(tmp.path()).unwrap();
        assert_eq!(Record::load(tmp.path()).unwrap(), None);
    }
}
