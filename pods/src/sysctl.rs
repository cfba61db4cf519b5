//! Which sysctls a pod may set (`--sysctl`, CRI's `linux.sysctls`): only
//! those the kernel keeps per namespace, and only in a namespace the pod
//! owns (runc's rule): `net.*` with a network namespace of its own,
//! `kernel.shm*`, `kernel.msg*`, `kernel.sem` and `fs.mqueue.*` with the
//! pod's IPC namespace (`--ipc=pod`, shared by its apps, where the engine
//! sets them once). Anything else would change the host.

use rukt_contract::{NetMode, Sharing};

use crate::prepare::{PrepareError, invalid};

/// Checks every sysctl of a pod whose network is `net` and IPC `ipc`.
pub fn check<'a>(
    sysctls: impl IntoIterator<Item = (&'a String, &'a String)>,
    net: NetMode,
    ipc: Sharing,
) -> Result<(), PrepareError> {
    for (name, value) in sysctls {
        let ipc_owned = ipc == Sharing::Pod;
        let ok = if name.starts_with("net.") {
            net != NetMode::Host
        } else if ["kernel.shm", "kernel.msg"]
            .iter()
            .any(|p| name.starts_with(p))
            || name == "kernel.sem"
            || name.starts_with("fs.mqueue.")
        {
            ipc_owned
        } else {
            false
        };
        let sane = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c))
            && !name.contains("..")
            && !value.contains('\n');
        if !ok || !sane {
            return Err(invalid(format!(
                "sysctl {name}={value}: only namespaced sysctls in a namespace of the pod's own \
                 (net.* without --net=host; kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.* \
                 with --ipc=pod)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, net: NetMode, ipc: Sharing) -> bool {
        let (k, v) = (name.to_string(), "1".to_string());
        check([(&k, &v)], net, ipc).is_ok()
    }

    #[test]
    fn only_namespaced_sysctls_in_the_pods_own_namespaces() {
        assert!(one("net.ipv4.ip_forward", NetMode::None, Sharing::Pod));
        assert!(!one("net.ipv4.ip_forward", NetMode::Host, Sharing::Pod));
        assert!(one("kernel.shm_rmid_forced", NetMode::None, Sharing::Pod));
        assert!(!one("kernel.shm_rmid_forced", NetMode::None, Sharing::Host));
        assert!(!one("kernel.msgmax", NetMode::None, Sharing::Private));
        assert!(!one("kernel.panic", NetMode::None, Sharing::Pod));
        assert!(!one("net/../../kernel/panic", NetMode::None, Sharing::Pod));
        assert!(!one("vm.swappiness", NetMode::None, Sharing::Pod));
    }
}
