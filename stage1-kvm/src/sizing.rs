//! How big a pod's VM is. Memory: the pod's `--memory` when given;
//! otherwise each app's own limit (128 MiB for an app without one, as rkt's
//! kvm flavor) summed, plus [`OVERHEAD`] for the guest kernel and init.
//! vCPUs: the pod's `--cpu` rounded up to whole CPUs when given, otherwise
//! the largest app `--cpu`, otherwise one; never more than the host has.
//! A mutable pod, whose apps come later, counts [`MUTABLE_APPS`] apps
//! without a limit beyond those it has.
//! Guest memory is a memfd that is only touched as the guest uses it, so a
//! generous size costs the host nothing until it is used.

use rukt_contract::PodManifest;

const MIB: u64 = 1 << 20;
/// An app without a memory limit counts as this much.
pub const APP_DEFAULT: u64 = 128 * MIB;
/// Added for the guest kernel, its page cache and the init.
pub const OVERHEAD: u64 = 128 * MIB;
/// How many default apps a mutable pod's VM has room for besides its own.
pub const MUTABLE_APPS: u64 = 3;
/// Smallest VM that boots the cloud kernel with its initramfs.
pub const MINIMUM: u64 = 128 * MIB;

/// The VM's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// Memory in MiB.
    pub memory_mib: u64,
    /// vCPUs.
    pub cpus: u32,
}

/// The size of `pod`'s VM on a host with `host_cpus` CPUs.
pub fn size(pod: &PodManifest, host_cpus: u32) -> Size {
    let memory = pod.resources.memory.unwrap_or_else(|| {
        pod.apps
            .iter()
            .map(|a| a.resources.memory.unwrap_or(APP_DEFAULT))
            .sum::<u64>()
            + if pod.mutable {
                MUTABLE_APPS * APP_DEFAULT
            } else {
                0
            }
            + OVERHEAD
    });
    let millis = pod
        .resources
        .cpu_millis
        .or_else(|| pod.apps.iter().filter_map(|a| a.resources.cpu_millis).max())
        .unwrap_or(1000);
    Size {
        memory_mib: memory.max(MINIMUM).div_ceil(MIB),
        cpus: (millis.div_ceil(1000) as u32).clamp(1, host_cpus.max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: &str) -> PodManifest {
        let apps = r#"[{"name":"a","image":{"name":"i","id":"x","manifest":"y","layers":[]},"exec":["/bin/true"],"working_dir":"/","uid":0,"gid":0,"environment":[],"resources":{"memory":67108864,"cpu_millis":1500}},
            {"name":"b","image":{"name":"i","id":"x","manifest":"y","layers":[]},"exec":["/bin/true"],"working_dir":"/","uid":0,"gid":0,"environment":[]}]"#;
        let text = format!(
            r#"{{"interface_version":1,"uuid":"u","stage1":{{"flavor":"kvm","path":"/x","interface_versions":[1]}},"apps":{apps},"created":"now"{json}}}"#
        );
        PodManifest::from_json(text.as_bytes()).unwrap()
    }

    #[test]
    fn sums_app_limits_plus_overhead_without_pod_limits() {
        assert_eq!(
            size(&pod(""), 8),
            Size {
                memory_mib: 64 + 128 + 128,
                cpus: 2
            }
        );
    }

    #[test]
    fn pod_limits_win_and_cpus_are_capped() {
        let p = pod(r#","resources":{"memory":1073741824,"cpu_millis":4000}"#);
        assert_eq!(
            size(&p, 2),
            Size {
                memory_mib: 1024,
                cpus: 2
            }
        );
        let tiny = pod(r#","resources":{"memory":8388608,"cpu_millis":100}"#);
        assert_eq!(
            size(&tiny, 2),
            Size {
                memory_mib: 128,
                cpus: 1
            }
        );
    }
}
