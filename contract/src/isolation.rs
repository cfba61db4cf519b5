//! What a pod and its apps are isolated and limited by, as the pod manifest
//! carries it: namespaces shared or not, network mode, resource limits,
//! capabilities and the seccomp filter. stage0 parses and checks the user's
//! flags into these types; each stage1 enforces what its isolation model can
//! (fly enforces none of it, nspawn all of it, kvm sizes the VM from the
//! limits).

use serde::{Deserialize, Serialize};

/// Paths an engine hides from apps unless the app says otherwise
/// ([`crate::AppSecurity::masked_paths`]): the container defaults of runc,
/// Docker and Podman.
pub const MASKED_PATHS: [&str; 12] = [
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

/// Paths apps may read but not write, unless the app says otherwise.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The capabilities an app gets unless `--caps-retain`/`--caps-remove` say
/// otherwise: Podman's default set of 11. It leaves out `CAP_NET_RAW`,
/// `CAP_MKNOD` and `CAP_AUDIT_WRITE` from Docker's 14; anything else
/// (`CAP_SYS_ADMIN`, `CAP_SYS_PTRACE`, `CAP_NET_ADMIN`, ...) must be asked for.
pub const DEFAULT_CAPABILITIES: [&str; 11] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// Every capability name this version knows (Linux 6.x), in the kernel's
/// numbering: a name's index is its capability number.
pub const ALL_CAPABILITIES: [&str; 41] = [
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

/// The capabilities in this process's bounding set, by name: what
/// "every capability" can be here (a host may lack some, as this project's
/// build hosts lack `CAP_SYS_RESOURCE`), as containerd gives a privileged
/// container or `add: ALL` the current process's.
pub fn bounding_capabilities() -> Vec<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let bits = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, c)| c.to_string())
        .collect()
}

/// The pod's network (`--net`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetMode {
    /// A network namespace of the pod's own with only loopback up.
    #[default]
    None,
    /// The host's network namespace.
    Host,
}

/// How a namespace is shared (`--ipc`, `--pid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    /// One namespace for all the pod's apps.
    Pod,
    /// One namespace per app.
    Private,
    /// The host's namespace.
    Host,
}

impl Sharing {
    /// Parses a flag value.
    pub fn from_name(s: &str) -> Option<Sharing> {
        match s {
            "pod" => Some(Sharing::Pod),
            "private" => Some(Sharing::Private),
            "host" => Some(Sharing::Host),
            _ => None,
        }
    }
}

fn pod_sharing() -> Sharing {
    Sharing::Pod
}

fn private_sharing() -> Sharing {
    Sharing::Private
}

/// The pod's namespaces beyond network and UTS (always per pod).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Namespaces {
    /// IPC namespace; default: one for the pod, as in Kubernetes.
    #[serde(default = "pod_sharing")]
    pub ipc: Sharing,
    /// PID namespace; default: one per app (each app is PID 1 of its own),
    /// as in Kubernetes without `shareProcessNamespace`.
    #[serde(default = "private_sharing")]
    pub pid: Sharing,
}

impl Default for Namespaces {
    fn default() -> Self {
        Namespaces {
            ipc: Sharing::Pod,
            pid: Sharing::Private,
        }
    }
}

/// Resource limits of a pod (its cgroup) or of one app (its child cgroup).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Memory limit in bytes (`--memory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u64>,
    /// CPU quota in thousandths of a CPU (`--cpu=500m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_millis: Option<u64>,
    /// Relative CPU weight, cgroup v1 shares (`--cpu-shares`, 2–262144).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<u64>,
    /// Maximum number of tasks (`--pids-limit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<u64>,
}

/// The CFS period `cpu_millis` quotas are expressed in, in microseconds (the
/// kernel's default).
pub const CPU_PERIOD_US: u64 = 100_000;

impl Resources {
    /// Whether no limit is set.
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }

    /// The CFS quota per [`CPU_PERIOD_US`] for `cpu_millis`.
    pub fn cpu_quota_us(&self) -> Option<u64> {
        self.cpu_millis.map(|m| m * CPU_PERIOD_US / 1000)
    }

    /// `cpu_shares` as a cgroup v2 weight (1–10000), converted as runc does.
    pub fn cpu_weight(&self) -> Option<u64> {
        self.cpu_shares
            .map(|s| 1 + (s.clamp(2, 262_144) - 2) * 9999 / 262_142)
    }
}

/// How the seccomp filter is formed (`--seccomp mode=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeccompMode {
    /// Allow only the listed syscalls; everything else fails.
    Retain,
    /// Allow everything except the listed syscalls.
    Remove,
}

/// An app's seccomp filter, when the user asked for one other than the
/// stage1's default. Names are syscall names or groups `@rukt/...` that
/// stage1 expands (see `docs/security.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seccomp {
    /// Allowlist or denylist.
    pub mode: SeccompMode,
    /// The errno name a filtered syscall fails with; default `EPERM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<String>,
    /// Syscall names and groups.
    pub syscalls: Vec<String>,
}

/// Options only the kvm stage1 reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvmOptions {
    /// Hardware acceleration (`--kvm-accel`).
    #[serde(default)]
    pub accel: KvmAccel,
}

/// How a kvm pod's VM is accelerated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvmAccel {
    /// KVM when a quick probe shows it can run the guest, otherwise TCG.
    #[default]
    Auto,
    /// KVM or fail.
    Kvm,
    /// qemu's software emulation.
    Tcg,
}

impl KvmAccel {
    /// Parses a flag value.
    pub fn from_name(s: &str) -> Option<KvmAccel> {
        match s {
            "auto" => Some(KvmAccel::Auto),
            "kvm" => Some(KvmAccel::Kvm),
            "tcg" => Some(KvmAccel::Tcg),
            _ => None,
        }
    }
}

/// Whether `name` is a capability this version knows (`CAP_` prefixed,
/// upper case).
pub fn known_capability(name: &str) -> bool {
    ALL_CAPABILITIES.contains(&name)
}

/// The capability set stage1 gives an app when it asked for none.
pub fn default_capabilities() -> Vec<String> {
    DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_known_capabilities() {
        assert!(DEFAULT_CAPABILITIES.iter().all(|c| known_capability(c)));
        assert!(!known_capability("CAP_NOPE"));
        assert!(!known_capability("chown"));
    }

    #[test]
    fn capability_numbers_follow_the_kernel() {
        let number = |c: &str| ALL_CAPABILITIES.iter().position(|n| *n == c);
        assert_eq!(number("CAP_CHOWN"), Some(0));
        assert_eq!(number("CAP_SYS_ADMIN"), Some(21));
        assert_eq!(number("CAP_SETFCAP"), Some(31));
        assert_eq!(number("CAP_CHECKPOINT_RESTORE"), Some(40));
    }

    #[test]
    fn cpu_conversions() {
        let r = |millis, shares| Resources {
            cpu_millis: millis,
            cpu_shares: shares,
            ..Resources::default()
        };
        assert_eq!(r(Some(500), None).cpu_quota_us(), Some(50_000));
        assert_eq!(r(None, Some(2)).cpu_weight(), Some(1));
        assert_eq!(r(None, Some(1024)).cpu_weight(), Some(39));
        assert_eq!(r(None, Some(262_144)).cpu_weight(), Some(10_000));
        assert_eq!(r(None, None).cpu_weight(), None);
    }

    #[test]
    fn names_parse() {
        assert_eq!(Sharing::from_name("pod"), Some(Sharing::Pod));
        assert_eq!(Sharing::from_name("x"), None);
        assert_eq!(KvmAccel::from_name("tcg"), Some(KvmAccel::Tcg));
    }
}
