//! The seccomp filters of nspawn apps, as OCI `linux.seccomp` JSON.
//!
//! The default is an allowlist equivalent to the common container default
//! (Docker's and Podman's profile): about 350 syscalls every ordinary program
//! uses, plus the ones an app's extra capabilities make meaningful (`mount`
//! with `CAP_SYS_ADMIN`, `ptrace`-family calls with `CAP_SYS_PTRACE`, ...).
//! Anything else fails with `EPERM`; `clone` may not create namespaces
//! without `CAP_SYS_ADMIN`; `clone3` fails with `ENOSYS` so that libc falls
//! back to `clone`, whose flags the filter can see.
//!
//! `--seccomp mode=retain,...` replaces the allowlist; `mode=remove,...`
//! allows everything but the listed calls. The group `@rukt/default-allowlist`
//! names the default allowlist.

use rukt_contract::{Seccomp, SeccompMode};
use serde_json::{Value, json};

/// The group naming [`ALWAYS_ALLOWED`] in `--seccomp`.
pub const DEFAULT_GROUP: &str = "@rukt/default-allowlist";

/// Allowed for every app.
pub const ALWAYS_ALLOWED: &[&str] = &[
    // files and directories
    "access",
    "chdir",
    "chmod",
    "chown",
    "close",
    "close_range",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fallocate",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchownat",
    "fcntl",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstatfs",
    "fsync",
    "ftruncate",
    "futimesat",
    "getcwd",
    "getdents",
    "getdents64",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "lchown",
    "lgetxattr",
    "link",
    "linkat",
    "listxattr",
    "llistxattr",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "name_to_handle_at",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "pread64",
    "preadv",
    "preadv2",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "rmdir",
    "sendfile",
    "setxattr",
    "splice",
    "stat",
    "statfs",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "tee",
    "truncate",
    "umask",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vmsplice",
    "write",
    "writev",
    "fanotify_mark",
    "cachestat",
    // memory
    "brk",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mprotect",
    "mremap",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "remap_file_pages",
    "map_shadow_stack",
    // processes, threads, signals
    "arch_prctl",
    "capget",
    "capset",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fork",
    "futex",
    "futex_requeue",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getegid",
    "geteuid",
    "getgid",
    "getgroups",
    "getitimer",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresuid",
    "getrlimit",
    "getrusage",
    "getsid",
    "gettid",
    "getuid",
    "ioprio_get",
    "ioprio_set",
    "kill",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "prctl",
    "prlimit64",
    "process_mrelease",
    "ptrace",
    "restart_syscall",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setfsgid",
    "setfsuid",
    "setgid",
    "setgroups",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setresgid",
    "setresuid",
    "setreuid",
    "setrlimit",
    "setsid",
    "setuid",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "tgkill",
    "tkill",
    "vfork",
    "wait4",
    "waitid",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    // time
    "alarm",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "gettimeofday",
    "nanosleep",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "times",
    "adjtimex",
    "clock_adjtime",
    // events and polling
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "eventfd",
    "eventfd2",
    "poll",
    "ppoll",
    "pselect6",
    "select",
    // sockets
    "accept",
    "accept4",
    "bind",
    "connect",
    "getpeername",
    "getsockname",
    "getsockopt",
    "listen",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setsockopt",
    "shutdown",
    "socket",
    "socketpair",
    // System V and POSIX IPC, async I/O
    "ipc",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_setup",
    "io_submit",
    // misc
    "ioctl",
    "pipe",
    "pipe2",
    "sysinfo",
    "uname",
    "personality",
];

/// Allowed when the app holds the capability.
pub const BY_CAPABILITY: &[(&str, &[&str])] = &[
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    (
        "CAP_SYS_MODULE",
        &["delete_module", "finit_module", "init_module"],
    ),
    ("CAP_SYS_PACCT", &["acct"]),
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
        ],
    ),
    ("CAP_SYS_RAWIO", &["ioperm", "iopl"]),
    ("CAP_SYS_TIME", &["clock_settime", "settimeofday"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    (
        "CAP_SYS_NICE",
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// The `clone` flags that create namespaces (`CLONE_NEWNS | CLONE_NEWCGROUP
/// | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
/// CLONE_NEWNET`): without `CAP_SYS_ADMIN`, `clone` with any of them fails.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7e02_0000;

/// Why a user's filter cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeccompError {
    /// An `errno=` name this stage1 does not know.
    #[error("unknown errno {0:?} in --seccomp")]
    Errno(String),
    /// A `@group` that does not exist.
    #[error("unknown seccomp group {0:?} (known: {DEFAULT_GROUP})")]
    Group(String),
}

/// The `linux.seccomp` object for an app with `capabilities`, from the
/// user's `--seccomp` (or the default when `None`).
pub fn filter(user: Option<&Seccomp>, capabilities: &[String]) -> Result<Value, SeccompError> {
    let Some(user) = user else {
        return Ok(default_filter(capabilities));
    };
    let errno = errno_number(user.errno.as_deref().unwrap_or("EPERM"))?;
    let mut names = Vec::new();
    for name in &user.syscalls {
        if name == DEFAULT_GROUP {
            names.extend(default_names(capabilities));
        } else if name.starts_with('@') {
            return Err(SeccompError::Group(name.clone()));
        } else {
            names.push(name.clone());
        }
    }
    Ok(match user.mode {
        SeccompMode::Retain => json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": errno,
            "architectures": architectures(),
            "syscalls": [{ "names": names, "action": "SCMP_ACT_ALLOW" }],
        }),
        SeccompMode::Remove => json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": architectures(),
            "syscalls": [{ "names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": errno }],
        }),
    })
}

fn default_names(capabilities: &[String]) -> Vec<String> {
    let mut names: Vec<String> = ALWAYS_ALLOWED.iter().map(|s| s.to_string()).collect();
    for (cap, calls) in BY_CAPABILITY {
        if capabilities.iter().any(|c| c == cap) {
            names.extend(calls.iter().map(|s| s.to_string()));
        }
    }
    if capabilities.iter().any(|c| c == "CAP_SYS_ADMIN") {
        names.push("clone".into());
    }
    names.sort();
    names.dedup();
    names
}

fn default_filter(capabilities: &[String]) -> Value {
    let sys_admin = capabilities.iter().any(|c| c == "CAP_SYS_ADMIN");
    let mut rules =
        vec![json!({ "names": default_names(capabilities), "action": "SCMP_ACT_ALLOW" })];
    if !sys_admin {
        rules.push(json!({
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{ "index": 0, "value": CLONE_NAMESPACE_FLAGS, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ" }],
        }));
        rules.push(json!({
            "names": ["clone3"],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": libc::ENOSYS,
        }));
    }
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": libc::EPERM,
        "architectures": architectures(),
        "syscalls": rules,
    })
}

fn architectures() -> Value {
    if cfg!(target_arch = "x86_64") {
        json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    } else if cfg!(target_arch = "aarch64") {
        json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
    } else {
        json!([])
    }
}

/// The errno names `--seccomp errno=` accepts.
const ERRNOS: &[(&str, i32)] = &[
    ("EPERM", libc::EPERM),
    ("ENOENT", libc::ENOENT),
    ("ESRCH", libc::ESRCH),
    ("EINTR", libc::EINTR),
    ("EIO", libc::EIO),
    ("ENXIO", libc::ENXIO),
    ("E2BIG", libc::E2BIG),
    ("ENOEXEC", libc::ENOEXEC),
    ("EBADF", libc::EBADF),
    ("ECHILD", libc::ECHILD),
    ("EAGAIN", libc::EAGAIN),
    ("ENOMEM", libc::ENOMEM),
    ("EACCES", libc::EACCES),
    ("EFAULT", libc::EFAULT),
    ("EBUSY", libc::EBUSY),
    ("EEXIST", libc::EEXIST),
    ("EXDEV", libc::EXDEV),
    ("ENODEV", libc::ENODEV),
    ("ENOTDIR", libc::ENOTDIR),
    ("EISDIR", libc::EISDIR),
    ("EINVAL", libc::EINVAL),
    ("ENFILE", libc::ENFILE),
    ("EMFILE", libc::EMFILE),
    ("ENOTTY", libc::ENOTTY),
    ("ETXTBSY", libc::ETXTBSY),
    ("EFBIG", libc::EFBIG),
    ("ENOSPC", libc::ENOSPC),
    ("ESPIPE", libc::ESPIPE),
    ("EROFS", libc::EROFS),
    ("EMLINK", libc::EMLINK),
    ("EPIPE", libc::EPIPE),
    ("ERANGE", libc::ERANGE),
    ("ENAMETOOLONG", libc::ENAMETOOLONG),
    ("ENOSYS", libc::ENOSYS),
    ("ENOTEMPTY", libc::ENOTEMPTY),
    ("ELOOP", libc::ELOOP),
    ("ENOTSUP", libc::ENOTSUP),
    ("EOPNOTSUPP", libc::EOPNOTSUPP),
    ("EAFNOSUPPORT", libc::EAFNOSUPPORT),
    ("EADDRINUSE", libc::EADDRINUSE),
    ("ENETDOWN", libc::ENETDOWN),
    ("ENETUNREACH", libc::ENETUNREACH),
    ("ECONNREFUSED", libc::ECONNREFUSED),
    ("ETIMEDOUT", libc::ETIMEDOUT),
    ("EHOSTUNREACH", libc::EHOSTUNREACH),
    ("EDQUOT", libc::EDQUOT),
];

fn errno_number(name: &str) -> Result<u32, SeccompError> {
    ERRNOS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, e)| *e as u32)
        .ok_or_else(|| SeccompError::Errno(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn allowed(v: &Value) -> Vec<String> {
        serde_json::from_value(v["syscalls"][0]["names"].clone()).unwrap()
    }

    #[test]
    fn default_allows_the_ordinary_and_refuses_the_privileged() {
        let v = filter(None, &caps(&["CAP_CHOWN"])).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ERRNO");
        let names = allowed(&v);
        for ok in [
            "read",
            "openat",
            "execve",
            "socket",
            "futex",
            "clock_gettime",
        ] {
            assert!(names.iter().any(|n| n == ok), "{ok} should be allowed");
        }
        for no in [
            "mount",
            "unshare",
            "setns",
            "init_module",
            "kexec_load",
            "bpf",
            "reboot",
            "clone",
        ] {
            assert!(!names.iter().any(|n| n == no), "{no} should be refused");
        }
        // clone is allowed only without namespace flags; clone3 gets ENOSYS.
        assert_eq!(v["syscalls"][1]["names"][0], "clone");
        assert_eq!(v["syscalls"][2]["errnoRet"], libc::ENOSYS);
    }

    #[test]
    fn capabilities_widen_the_default() {
        let names = allowed(&filter(None, &caps(&["CAP_SYS_ADMIN", "CAP_SYS_CHROOT"])).unwrap());
        for ok in ["mount", "unshare", "clone", "clone3", "chroot"] {
            assert!(names.iter().any(|n| n == ok), "{ok} should be allowed");
        }
    }

    #[test]
    fn user_modes() {
        let retain = Seccomp {
            mode: SeccompMode::Retain,
            errno: Some("ENOSYS".into()),
            syscalls: vec![DEFAULT_GROUP.into(), "reboot".into()],
        };
        let v = filter(Some(&retain), &[]).unwrap();
        assert_eq!(v["defaultErrnoRet"], libc::ENOSYS);
        assert!(allowed(&v).iter().any(|n| n == "reboot"));
        let remove = Seccomp {
            mode: SeccompMode::Remove,
            errno: None,
            syscalls: vec!["chmod".into()],
        };
        let v = filter(Some(&remove), &[]).unwrap();
        assert_eq!(v["defaultAction"], "SCMP_ACT_ALLOW");
        assert_eq!(v["syscalls"][0]["errnoRet"], libc::EPERM);
        let bad = Seccomp {
            errno: Some("EWHAT".into()),
            ..remove.clone()
        };
        assert_eq!(
            filter(Some(&bad), &[]),
            Err(SeccompError::Errno("EWHAT".into()))
        );
        let group = Seccomp {
            syscalls: vec!["@docker/x".into()],
            ..remove
        };
        assert!(filter(Some(&group), &[]).is_err());
    }
}
