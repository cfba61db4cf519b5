//! `--cgroup-parent` and CRI's `linux.cgroup_parent`: the cgroup a pod's
//! own cgroup is made in, checked before anything is created. It must be
//! an absolute cgroupfs path (kubelet's cgroupfs driver sends
//! `/kubepods/burstable/pod<uid>`): a systemd slice name, `..` or a
//! control character is refused, and `/` means no parent.

use crate::prepare::{PrepareError, invalid};

/// `parent`, normalised (no repeated or trailing `/`); `None` for `/`.
pub fn check(parent: &str) -> Result<Option<String>, PrepareError> {
    let bad = |why: &str| invalid(format!("--cgroup-parent {parent:?}: {why}"));
    if !parent.starts_with('/') {
        return Err(bad(if parent.ends_with(".slice") {
            "a systemd slice; rukt's cgroup driver is cgroupfs: give a path such as /kubepods/pod1"
        } else {
            "not an absolute cgroup path"
        }));
    }
    if parent.chars().any(char::is_control) {
        return Err(bad("has a control character"));
    }
    let parts: Vec<&str> = parent.split('/').filter(|p| !p.is_empty()).collect();
    if parts.iter().any(|p| *p == "." || *p == "..") {
        return Err(bad("has a . or .. component"));
    }
    Ok((!parts.is_empty()).then(|| format!("/{}", parts.join("/"))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_and_the_root_is_none() {
        assert_eq!(
            check("/kubepods/burstable/pod1").unwrap().as_deref(),
            Some("/kubepods/burstable/pod1")
        );
        assert_eq!(check("//a//b/").unwrap().as_deref(), Some("/a/b"));
        assert_eq!(check("/").unwrap(), None);
    }

    #[test]
    fn what_is_not_a_cgroupfs_path_is_refused() {
        for (p, why) in [
            ("kubepods-pod1.slice", "systemd slice"),
            ("kubepods", "not an absolute"),
            ("/a/../etc", ".."),
            ("/a/./b", ".."),
            ("/a\nb", "control"),
        ] {
            let e = check(p).unwrap_err().to_string();
            assert!(e.contains(why), "{p}: {e}");
        }
    }
}
