//! Running one CNI plugin as the spec says: the executable named by the
//! configuration's `type` from the plugin path, in the caller's network
//! namespace, with `CNI_*` in an otherwise empty environment (only `PATH`
//! is kept: plugins run `iptables`), the configuration on stdin and the
//! result or the spec's error object on stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::catalog::{find_plugin, join_dirs};

/// A CNI operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Attach.
    Add,
    /// Detach; must succeed when there is nothing left to undo.
    Del,
    /// Verify an attachment.
    Check,
}

impl Op {
    /// `CNI_COMMAND`.
    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "ADD",
            Op::Del => "DEL",
            Op::Check => "CHECK",
        }
    }
}

/// What every plugin of one attachment is run with.
#[derive(Debug, Clone)]
pub struct Invocation<'a> {
    /// `CNI_CONTAINERID`: the pod's UUID.
    pub container_id: &'a str,
    /// `CNI_NETNS`: the pod's network namespace.
    pub netns: &'a Path,
    /// `CNI_IFNAME`: the interface inside the pod.
    pub ifname: &'a str,
    /// `CNI_ARGS`, `K=V;K=V`.
    pub args: String,
    /// `CNI_PATH`.
    pub plugin_dirs: &'a [PathBuf],
}

/// Why a plugin failed.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// Not in the plugin path.
    #[error("CNI plugin {plugin:?} not found in {dirs}")]
    NotFound {
        /// Its type.
        plugin: String,
        /// Where it was looked for.
        dirs: String,
    },
    /// It could not be run.
    #[error("cannot run CNI plugin {plugin}")]
    Spawn {
        /// Its type.
        plugin: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// It reported an error (the spec's error object, or its stderr).
    #[error("CNI plugin {plugin} failed {op}: {message}")]
    Failed {
        /// Its type.
        plugin: String,
        /// The operation.
        op: &'static str,
        /// `msg` and `details` of its error (and its code), or its stderr.
        message: String,
    },
    /// It succeeded with output that is not a result.
    #[error("CNI plugin {plugin} gave no valid result for {op}: {reason}")]
    BadResult {
        /// Its type.
        plugin: String,
        /// The operation.
        op: &'static str,
        /// Why the output was refused.
        reason: String,
    },
}

/// `PATH` for what rukt runs (plugins, iptables): the caller's, or the
/// system's when it has none (stage1 entrypoints get a minimal environment).
pub fn system_path() -> std::ffi::OsString {
    std::env::var_os("PATH")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/usr/sbin:/usr/bin:/sbin:/bin".into())
}

/// Runs plugin `kind` for `op` with `config`; returns its result for ADD
/// (for DEL and CHECK, `Value::Null`).
pub fn run(op: Op, kind: &str, config: &Value, inv: &Invocation<'_>) -> Result<Value, PluginError> {
    let exe = find_plugin(inv.plugin_dirs, kind).ok_or_else(|| PluginError::NotFound {
        plugin: kind.to_string(),
        dirs: join_dirs(inv.plugin_dirs),
    })?;
    let spawn = |source| PluginError::Spawn {
        plugin: kind.to_string(),
        source,
    };
    let started = std::time::Instant::now();
    let mut child = Command::new(&exe)
        .env_clear()
        .env("PATH", system_path())
        .env("CNI_COMMAND", op.name())
        .env("CNI_CONTAINERID", inv.container_id)
        .env("CNI_NETNS", inv.netns)
        .env("CNI_IFNAME", inv.ifname)
        .env("CNI_ARGS", &inv.args)
        .env("CNI_PATH", join_dirs(inv.plugin_dirs))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn)?;
    let input = serde_json::to_vec(config).expect("a JSON value serialises");
    // A plugin that exits before reading its stdin shows in its status.
    let _ = child.stdin.take().expect("piped").write_all(&input);
    let out = child.wait_with_output().map_err(spawn)?;
    tracing::debug!(
        plugin = kind,
        op = op.name(),
        status = ?out.status,
        elapsed_us = started.elapsed().as_micros() as u64,
        "cni"
    );
    if !out.status.success() {
        return Err(PluginError::Failed {
            plugin: kind.to_string(),
            op: op.name(),
            message: error_message(&out.stdout, &out.stderr, out.status),
        });
    }
    if op != Op::Add {
        return Ok(Value::Null);
    }
    let bad = |reason: String| PluginError::BadResult {
        plugin: kind.to_string(),
        op: op.name(),
        reason,
    };
    let result: Value = serde_json::from_slice(&out.stdout).map_err(|e| bad(e.to_string()))?;
    if !result.is_object() {
        return Err(bad("not a JSON object".into()));
    }
    Ok(result)
}

/// The message of a failed plugin: the spec's `{code, msg, details}` on
/// stdout, else its stderr, else its exit status.
fn error_message(stdout: &[u8], stderr: &[u8], status: std::process::ExitStatus) -> String {
    let from_json = |data: &[u8]| -> Option<String> {
        let v: Value = serde_json::from_slice(data).ok()?;
        let msg = v.get("msg")?.as_str()?;
        let mut out = msg.to_string();
        if let Some(d) = v
            .get("details")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            out.push_str(": ");
            out.push_str(d);
        }
        if let Some(code) = v.get("code").and_then(Value::as_u64) {
            out.push_str(&format!(" (code {code})"));
        }
        Some(out)
    };
    if let Some(m) = from_json(stdout).or_else(|| from_json(stderr)) {
        return m;
    }
    let text = String::from_utf8_lossy(if stderr.is_empty() { stdout } else { stderr });
    let text = text.trim();
    if text.is_empty() {
        format!("it exited with {status}")
    } else {
        text.chars().take(2000).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn error_objects_become_messages() {
        let st = std::process::ExitStatus::from_raw(1 << 8);
        let json = br#"{"cniVersion":"1.0.0","code":7,"msg":"bad config","details":"no subnet"}"#;
        assert_eq!(
            error_message(json, b"", st),
            "bad config: no subnet (code 7)"
        );
        assert_eq!(error_message(b"", b"oops\n", st), "oops");
        assert_eq!(error_message(b"", b"", st), format!("it exited with {st}"));
    }

    fn plugin(dir: &Path, name: &str, script: &str) {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn runs_with_the_cni_environment_only() {
        let tmp = tempfile::tempdir().unwrap();
        plugin(
            tmp.path(),
            "echo",
            r#"cat >/dev/null; printf '{"cniVersion":"1.0.0","env":"%s %s %s %s"}' "$CNI_COMMAND" "$CNI_IFNAME" "$CNI_ARGS" "${HOME:-none}""#,
        );
        plugin(
            tmp.path(),
            "fail",
            r#"echo '{"code":11,"msg":"try again"}'; exit 1"#,
        );
        let dirs = vec![tmp.path().to_path_buf()];
        let inv = Invocation {
            container_id: "c1",
            netns: Path::new("/run/netns/x"),
            ifname: "eth0",
            args: "IP=10.1.2.3".into(),
            plugin_dirs: &dirs,
        };
        let r = run(Op::Add, "echo", &serde_json::json!({}), &inv).unwrap();
        assert_eq!(r["env"], "ADD eth0 IP=10.1.2.3 none");
        let e = run(Op::Add, "fail", &Value::Null, &inv)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "CNI plugin fail failed ADD: try again (code 11)");
        let e = run(Op::Del, "absent", &Value::Null, &inv)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("CNI plugin \"absent\" not found in /"), "{e}");
    }
}
