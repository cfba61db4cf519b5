//! Pure parsing of what the kernel shows in `/proc`: namespace links, `/proc/self/status`
//! fields, capability masks, `/proc/net/dev` and `/proc/self/cgroup`.

/// Capability names by bit number (Linux 6.x): the kernel's numbering written out here, as
/// the inspector depends on nothing of rukt's.
pub const CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The inode number in a namespace link's target (`net:[4026531840]`).
pub fn namespace_inode(link: &str) -> Option<u64> {
    let (_, rest) = link.split_once(":[")?;
    rest.strip_suffix(']')?.parse().ok()
}

/// The value of `Key:` in `/proc/<pid>/status` text, trimmed.
pub fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim())
    })
}

/// The capability names set in a hex mask (`CapEff:` and friends); unknown bits as `CAP_<n>`.
pub fn capability_names(hex: &str) -> Option<Vec<String>> {
    let mask = u64::from_str_radix(hex.trim(), 16).ok()?;
    Some(
        (0..64)
            .filter(|bit| mask & (1u64 << bit) != 0)
            .map(|bit| {
                CAPABILITIES
                    .get(bit)
                    .map_or_else(|| format!("CAP_{bit}"), |n| (*n).to_owned())
            })
            .collect(),
    )
}

/// Interface names in `/proc/net/dev` (two header lines, then `name: counters`).
pub fn net_interfaces(text: &str) -> Vec<String> {
    text.lines()
        .skip(2)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, _)| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

/// The path of the cgroup `controller` (`memory`, `pids`, `cpu`; `""` for the v2 unified
/// hierarchy) in `/proc/self/cgroup` text (`id:controllers:path`).
pub fn cgroup_path<'a>(text: &'a str, controller: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let (_id, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if controller.is_empty() {
            controllers.is_empty()
        } else {
            controllers.split(',').any(|c| c == controller)
        };
        hit.then_some(path)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_links() {
        assert_eq!(namespace_inode("net:[4026531840]"), Some(4026531840));
        assert_eq!(namespace_inode("pid_for_children:[7]"), Some(7));
        assert_eq!(namespace_inode("net:4026531840"), None);
        assert_eq!(namespace_inode("net:[x]"), None);
    }

    #[test]
    fn status_fields() {
        let status = "Name:\tsh\nSeccomp:\t2\nNoNewPrivs:\t1\nCapEff:\t00000000a80425fb\n";
        assert_eq!(status_field(status, "Seccomp"), Some("2"));
        assert_eq!(status_field(status, "NoNewPrivs"), Some("1"));
        assert_eq!(status_field(status, "CapEff"), Some("00000000a80425fb"));
        assert_eq!(status_field(status, "Seccomp_filters"), None);
    }

    #[test]
    fn capability_masks() {
        // Docker's default set of 14.
        let docker = capability_names("00000000a80425fb").unwrap();
        assert_eq!(docker.len(), 14);
        assert!(docker.contains(&"CAP_NET_RAW".to_owned()));
        assert!(docker.contains(&"CAP_AUDIT_WRITE".to_owned()));
        assert!(!docker.contains(&"CAP_SYS_ADMIN".to_owned()));
        assert_eq!(capability_names("0").unwrap(), Vec::<String>::new());
        assert_eq!(
            capability_names("8000000000000001").unwrap(),
            ["CAP_CHOWN", "CAP_63"]
        );
        assert_eq!(capability_names("000001ffffffffff").unwrap().len(), 41);
        assert!(capability_names("zz").is_none());
    }

    #[test]
    fn proc_net_dev() {
        let text =
            "Inter-|   Receive |  Transmit\n face |bytes packets\n    lo: 0 0 0\n  eth0: 1 2 3\n";
        assert_eq!(net_interfaces(text), ["lo", "eth0"]);
        assert!(net_interfaces("only\nheaders\n").is_empty());
    }

    #[test]
    fn cgroup_paths() {
        let v1 = "12:pids:/rukt/u/app\n4:cpu,cpuacct:/rukt/u/app\n3:memory:/rukt/u/app\n0::/\n";
        assert_eq!(cgroup_path(v1, "memory"), Some("/rukt/u/app"));
        assert_eq!(cgroup_path(v1, "cpuacct"), Some("/rukt/u/app"));
        assert_eq!(cgroup_path(v1, ""), Some("/"));
        assert_eq!(cgroup_path(v1, "blkio"), None);
        assert_eq!(cgroup_path("0::/a/b\n", ""), Some("/a/b"));
    }
}
