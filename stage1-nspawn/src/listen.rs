//! Socket activation: the descriptors systemd passed `rukt run` (stage0
//! kept them at fd 3 onwards across its exec, and this process has its PID,
//! so `LISTEN_PID` is ours) go to one app: the one named like one of the
//! descriptors (`FileDescriptorName=`), else the first. libcontainer keeps
//! them at the same numbers in its init and closes them in every other
//! app; its environment gets `LISTEN_FDS`, `LISTEN_FDNAMES` and
//! `LISTEN_PID=1`, the app's PID in its own PID namespace.

use rukt_contract::{
    App, ENV_LISTEN_FDNAMES, ENV_LISTEN_FDS, ENV_LISTEN_PID, ListenFds, PodManifest,
};
use serde_json::Value;

/// The activated descriptors and the app that gets them.
pub struct Activation {
    fds: ListenFds,
    app: String,
}

impl Activation {
    /// The descriptors this process was given, if any, and their app.
    pub fn from_env(pod: &PodManifest) -> Option<Activation> {
        let fds = ListenFds::from_env()?;
        // libcontainer's init reads LISTEN_FDS from its own environment and
        // would hand the descriptors to every app: only the variables in the
        // chosen app's spec may say they exist.
        for var in [ENV_LISTEN_FDS, ENV_LISTEN_FDNAMES, ENV_LISTEN_PID] {
            // SAFETY: the supervisor is single-threaded
            // (`apps::ensure_single_threaded`): nothing reads the
            // environment concurrently.
            unsafe { std::env::remove_var(var) };
        }
        let app = pod
            .apps
            .iter()
            .find(|a| fds.names.contains(&a.name))
            .or(pod.apps.first())?
            .name
            .clone();
        tracing::debug!(app, count = fds.count, "socket activation");
        Some(Activation { fds, app })
    }

    /// For the activated app: adds the variables to its OCI `config` and
    /// returns how many descriptors it keeps; 0 for the others.
    pub fn give(&self, app: &App, config: &mut Value) -> anyhow::Result<i32> {
        if app.name != self.app {
            return Ok(0);
        }
        let pid = match config["linux"]["namespaces"].as_array() {
            Some(ns)
                if ns
                    .iter()
                    .any(|n| n["type"] == "pid" && n.get("path").is_none()) =>
            {
                1
            }
            _ => anyhow::bail!(
                "app {}: socket activation needs the app in a PID namespace of its own \
                 (--pid=private), where LISTEN_PID=1 is its PID",
                app.name
            ),
        };
        if let Some(env) = config["process"]["env"].as_array_mut() {
            env.retain(|v| {
                let name = v.as_str().and_then(|s| s.split_once('=')).map(|(k, _)| k);
                ![ENV_LISTEN_FDS, ENV_LISTEN_FDNAMES, ENV_LISTEN_PID].contains(&name.unwrap_or(""))
            });
            env.push(format!("{ENV_LISTEN_FDS}={}", self.fds.count).into());
            env.push(format!("{ENV_LISTEN_FDNAMES}={}", self.fds.names_value()).into());
            env.push(format!("{ENV_LISTEN_PID}={pid}").into());
        }
        Ok(self.fds.count as i32)
    }
}
