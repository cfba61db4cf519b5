//! The pod's sysctls (manifest `sysctls`): written once by the supervisor
//! after it entered the pod's namespaces, through `/proc/sys`, whose
//! `net.*` and IPC entries are those of the writer's network and IPC
//! namespaces: the pod's, shared by its apps. stage0 let through only
//! namespaced names in namespaces the pod owns (`pods::sysctl`); the names
//! are checked again here before they become paths.

use std::collections::BTreeMap;

use anyhow::{Context, bail};

/// Writes every sysctl.
pub fn apply(sysctls: &BTreeMap<String, String>) -> anyhow::Result<()> {
    for (name, value) in sysctls {
        let safe = !name.is_empty()
            && !name.contains("..")
            && !name.starts_with(['.', '/'])
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
        if !safe {
            bail!("invalid sysctl name {name:?}");
        }
        let path = format!("/proc/sys/{}", name.replace('.', "/"));
        std::fs::write(&path, value)
            .with_context(|| format!("cannot set sysctl {name}={value}"))?;
    }
    Ok(())
}
