//! Seccomp filters compiled once, loaded many times. libseccomp turns a
//! filter description into BPF in a few milliseconds of CPU (three
//! architectures, about 900 instructions for the default allowlist); done by
//! libcontainer inside every app's init, that was the largest single cost of
//! starting a pod. Here the supervisor compiles each distinct filter once,
//! keeps the BPF in the store's cache (`cache/stage1-nspawn/seccomp/`, keyed
//! by a hash of the description), and the app's last step before exec loads
//! it with `prctl(PR_SET_SECCOMP)` ([`load`]); `enter` loads the same bytes.

use std::hash::Hasher;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use libcontainer::oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use serde_json::Value;

/// Bumped when the compilation changes, so old cache entries are not used.
const FORMAT: u32 = 1;

/// A filter that cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The description does not have the expected shape.
    #[error("invalid seccomp description")]
    Shape(#[source] serde_json::Error),
    /// libseccomp refused it.
    #[error("libseccomp: {0}")]
    Libseccomp(String),
    /// Reading or writing the compiled filter failed.
    #[error("cannot {0} the compiled seccomp filter")]
    Io(&'static str, #[source] std::io::Error),
    /// An action this compiler does not translate.
    #[error("unsupported seccomp action {0:?}")]
    Action(LinuxSeccompAction),
}

fn scmp(e: impl std::fmt::Display) -> BpfError {
    BpfError::Libseccomp(e.to_string())
}

/// The filter cache of the store holding the pod at `pod_dir`.
pub fn cache_dir(pod_dir: &Path) -> Option<PathBuf> {
    rukt_contract::stage1_cache_dir(pod_dir, "nspawn").map(|d| d.join("seccomp"))
}

/// The BPF program for `filter` (an OCI `linux.seccomp` object), from
/// `cache` when it has it, else compiled and added to it.
pub fn compiled(filter: &Value, cache: Option<&Path>) -> Result<Vec<u8>, BpfError> {
    let text = filter.to_string();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(text.as_bytes());
    h.write_u32(FORMAT);
    let name = format!("{:016x}-{}.bpf", h.finish(), text.len());
    if let Some(bytes) = cache.and_then(|dir| std::fs::read(dir.join(&name)).ok())
        && !bytes.is_empty()
        && bytes.len().is_multiple_of(8)
    {
        return Ok(bytes);
    }
    let seccomp: LinuxSeccomp = serde_json::from_value(filter.clone()).map_err(BpfError::Shape)?;
    let ctx = context(&seccomp)?;
    let tmp = tempfile::tempfile().map_err(|e| BpfError::Io("write", e))?;
    ctx.export_bpf(tmp.as_fd()).map_err(scmp)?;
    let bytes = std::fs::read(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&tmp)
    ))
    .map_err(|e| BpfError::Io("read", e))?;
    if let Some(dir) = cache {
        store(dir, &name, &bytes);
    }
    Ok(bytes)
}

/// Adds an entry to the cache; a cache that cannot be written is skipped.
fn store(dir: &Path, name: &str, bytes: &[u8]) {
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        let dir_fd = std::fs::File::open(dir)?;
        rukt_contract::runtime::write_atomic(&dir_fd, name, bytes)
    });
    if let Err(e) = written {
        tracing::debug!("cannot cache the seccomp filter in {}: {e}", dir.display());
    }
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, BpfError> {
    let errno = errno.map_or(libc::EPERM, |e| e as i32);
    Ok(match a {
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        other => return Err(BpfError::Action(other)),
    })
}

fn context(s: &LinuxSeccomp) -> Result<ScmpFilterContext, BpfError> {
    let mut ctx =
        ScmpFilterContext::new(action(s.default_action(), s.default_errno_ret())?).map_err(scmp)?;
    // no_new_privs is the app's own setting (always on), set before loading.
    ctx.set_ctl_nnp(false).map_err(scmp)?;
    for arch in s.architectures().iter().flatten() {
        let arch = match format!("{arch:?}").as_str() {
            "ScmpArchX86_64" => ScmpArch::X8664,
            "ScmpArchX86" => ScmpArch::X86,
            "ScmpArchX32" => ScmpArch::X32,
            "ScmpArchAarch64" => ScmpArch::Aarch64,
            "ScmpArchArm" => ScmpArch::Arm,
            _ => continue,
        };
        ctx.add_arch(arch).map_err(scmp)?;
    }
    for rule in s.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        for name in rule.names() {
            // Names this libseccomp or architecture lacks are skipped, as
            // runc and libcontainer do.
            let Ok(call) = ScmpSyscall::from_name(name) else {
                tracing::debug!("seccomp: unknown syscall {name}, skipped");
                continue;
            };
            let args: Vec<ScmpArgCompare> = rule
                .args()
                .iter()
                .flatten()
                .map(|a| {
                    let op = match a.op() {
                        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
                        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
                        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
                        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
                        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
                        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
                        LinuxSeccompOperator::ScmpCmpMaskedEq => {
                            ScmpCompareOp::MaskedEqual(a.value())
                        }
                    };
                    let datum = match a.op() {
                        LinuxSeccompOperator::ScmpCmpMaskedEq => a.value_two().unwrap_or(0),
                        _ => a.value(),
                    };
                    ScmpArgCompare::new(a.index() as u32, op, datum)
                })
                .collect();
            let added = if args.is_empty() {
                ctx.add_rule(act, call)
            } else {
                ctx.add_rule_conditional(act, call, &args)
            };
            added.map_err(scmp)?;
        }
    }
    Ok(ctx)
}

/// Installs a compiled filter on the calling thread (no_new_privs must be
/// set). Only system calls: fit for the last step before exec.
pub fn load(bpf: &[u8]) -> std::io::Result<()> {
    let prog = libc::sock_fprog {
        len: (bpf.len() / 8) as libc::c_ushort,
        filter: bpf.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `bpf`, whole `sock_filter`s (8 bytes each)
    // as libseccomp exported them, alive for the call; the kernel copies it.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER as libc::c_ulong,
            &prog as *const libc::sock_fprog as libc::c_ulong,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiles_once_and_reads_the_cache() {
        let filter = crate::seccomp::filter(None, &["CAP_CHOWN".to_string()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let first = compiled(&filter, Some(dir.path())).unwrap();
        assert!(first.len() > 100 * 8 && first.len().is_multiple_of(8));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(compiled(&filter, Some(dir.path())).unwrap(), first);
        let other = crate::seccomp::filter(None, &["CAP_SYS_ADMIN".to_string()]).unwrap();
        assert_ne!(compiled(&other, Some(dir.path())).unwrap(), first);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn cache_lives_in_the_store() {
        let store = tempfile::tempdir().unwrap();
        let pod = store.path().join("pods/run/u");
        std::fs::create_dir_all(&pod).unwrap();
        assert_eq!(
            cache_dir(&pod).unwrap(),
            store.path().join("cache/stage1-nspawn/seccomp")
        );
        assert_eq!(cache_dir(Path::new("/x/y/z")), None);
    }
}
