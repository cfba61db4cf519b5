//! The iptables rules a pod's plugins could not remove: Debian's `bridge`
//! plugin (1.1.1) learns which masquerade rules to delete from the pod's
//! interface, so when the pod's network namespace is already gone (a reboot
//! emptied `/run`) its DEL succeeds and leaves them. Every such rule carries
//! the comment `name: "<network>" id: "<pod uuid>"`; this deletes the rules
//! that name the pod and the chains left empty by it, in one
//! `iptables-restore --noflush` per table. Used only on that recovery path.

use std::io::Write;
use std::process::{Command, Stdio};

/// Why the sweep failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot remove the iptables rules of pod {uuid}: {reason}")]
pub struct SweepError {
    uuid: String,
    reason: String,
}

/// The restore script deleting what `save` (one table's `iptables-save`)
/// holds for pod `uuid`; `None` if nothing.
pub fn script(save: &str, table: &str, uuid: &str) -> Option<String> {
    let mark = format!("id: \\\"{uuid}\\\"");
    let ours: Vec<&str> = save
        .lines()
        .filter(|l| l.starts_with("-A ") && l.contains(&mark))
        .collect();
    if ours.is_empty() {
        return None;
    }
    let chain_of = |l: &str| l.split_whitespace().nth(1).map(str::to_string);
    // Chains the pod's rules jump to, if nothing but the pod's rules is in them.
    let targets: Vec<String> = ours
        .iter()
        .filter_map(|l| l.split(" -j ").nth(1))
        .filter_map(|t| t.split_whitespace().next())
        .filter(|t| t.starts_with("CNI-") && !t.starts_with("CNI-HOSTPORT"))
        .map(str::to_string)
        .collect();
    let mut out = format!("*{table}\n");
    for l in &ours {
        out.push_str(&format!("-D {}\n", &l[3..]));
    }
    for t in targets {
        let others = save
            .lines()
            .filter(|l| l.starts_with("-A ") && chain_of(l).as_deref() == Some(&t))
            .any(|l| !l.contains(&mark));
        if !others {
            out.push_str(&format!("-X {t}\n"));
        }
    }
    out.push_str("COMMIT\n");
    Some(out)
}

/// Deletes pod `uuid`'s rules from the nat and filter tables.
pub fn sweep(uuid: &str) -> Result<(), SweepError> {
    let fail = |reason: String| SweepError {
        uuid: uuid.to_string(),
        reason,
    };
    for table in ["nat", "filter"] {
        let save = Command::new("iptables-save")
            .env("PATH", crate::plugin::system_path())
            .args(["-t", table])
            .stderr(Stdio::null())
            .output()
            .map_err(|e| fail(format!("iptables-save: {e}")))?;
        if !save.status.success() {
            continue;
        }
        let Some(input) = script(&String::from_utf8_lossy(&save.stdout), table, uuid) else {
            continue;
        };
        tracing::debug!(table, "removing a dead pod's iptables rules");
        let mut child = Command::new("iptables-restore")
            .env("PATH", crate::plugin::system_path())
            .arg("--noflush")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("iptables-restore: {e}")))?;
        let _ = child
            .stdin
            .take()
            .expect("piped")
            .write_all(input.as_bytes());
        let out = child
            .wait_with_output()
            .map_err(|e| fail(format!("iptables-restore: {e}")))?;
        if !out.status.success() {
            return Err(fail(
                String::from_utf8_lossy(&out.stderr).trim().to_string(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAVE: &str = r#"*nat
:POSTROUTING ACCEPT [0:0]
:CNI-aaa - [0:0]
:CNI-bbb - [0:0]
-A POSTROUTING -s 172.16.28.2/32 -m comment --comment "name: \"default\" id: \"pod-1\"" -j CNI-aaa
-A POSTROUTING -s 172.16.28.3/32 -m comment --comment "name: \"default\" id: \"pod-2\"" -j CNI-bbb
-A CNI-aaa -d 172.16.28.0/24 -m comment --comment "name: \"default\" id: \"pod-1\"" -j ACCEPT
-A CNI-aaa ! -d 224.0.0.0/4 -m comment --comment "name: \"default\" id: \"pod-1\"" -j MASQUERADE
-A CNI-bbb ! -d 224.0.0.0/4 -m comment --comment "name: \"default\" id: \"pod-2\"" -j MASQUERADE
COMMIT
"#;

    #[test]
    fn deletes_only_the_pods_rules_and_its_empty_chain() {
        let s = script(SAVE, "nat", "pod-1").unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "*nat");
        assert_eq!(lines.len(), 6, "{s}");
        assert!(lines[1].starts_with("-D POSTROUTING -s 172.16.28.2/32"));
        assert!(lines[2].starts_with("-D CNI-aaa -d 172.16.28.0/24"));
        assert!(lines[3].starts_with("-D CNI-aaa ! -d 224.0.0.0/4"));
        assert_eq!(lines[4], "-X CNI-aaa");
        assert_eq!(lines[5], "COMMIT");
        assert!(!s.contains("pod-2"));
        assert_eq!(script(SAVE, "nat", "pod-3"), None);
    }
}
