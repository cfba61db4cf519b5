//! What confines an app inside the guest beyond its root and user: its own
//! cgroup (cgroup v2, mounted by the init) with the app's `--memory`,
//! `--cpu`, `--cpu-shares` and `--pids-limit`, and its capability set (the
//! bounding set is cut to the app's capabilities before it drops to its
//! user) with no_new_privs. The VM is the pod's boundary; this keeps the
//! apps of one pod to what each was given, as nspawn does.

use std::io;

use rukt_contract::isolation::{ALL_CAPABILITIES, CPU_PERIOD_US};
use rukt_contract::{App, Resources};
use rustix::mount::{MountFlags, mount};

/// Where the guest's cgroup2 hierarchy is mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Writes the pod's sysctls (`net.core.somaxconn` is
/// `/proc/sys/net/core/somaxconn`) into the guest's kernel: the VM's own,
/// so every sysctl stage0 let through is the pod's alone.
pub fn sysctls(sysctls: &std::collections::BTreeMap<String, String>) -> io::Result<()> {
    for (name, value) in sysctls {
        let path = format!("/proc/sys/{}", name.replace('.', "/"));
        std::fs::write(&path, value)
            .map_err(|e| io::Error::other(format!("cannot set sysctl {name}={value}: {e}")))?;
    }
    Ok(())
}

/// The cgroup of app `name`.
pub fn cgroup_dir(name: &str) -> String {
    format!("{CGROUP_ROOT}/app-{name}")
}

/// Mounts cgroup2, hands the controllers down and makes one cgroup per app
/// with its limits. A guest kernel without cgroup2 is reported, not fatal,
/// unless an app asked for a limit.
pub fn setup(apps: &[App]) -> io::Result<()> {
    let wanted = apps.iter().any(|a| !a.resources.is_empty());
    let mounted = std::fs::create_dir_all(CGROUP_ROOT).and_then(|()| {
        mount(
            "cgroup2",
            CGROUP_ROOT,
            "cgroup2",
            MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
            None,
        )
        .map_err(io::Error::from)
    });
    if let Err(e) = mounted {
        if wanted {
            return Err(io::Error::other(format!(
                "cannot mount cgroup2 for the apps' limits: {e}"
            )));
        }
        return Ok(());
    }
    let available = std::fs::read_to_string(format!("{CGROUP_ROOT}/cgroup.controllers"))?;
    let enable: Vec<String> = available
        .split_whitespace()
        .filter(|c| ["memory", "pids", "cpu"].contains(c))
        .map(|c| format!("+{c}"))
        .collect();
    std::fs::write(
        format!("{CGROUP_ROOT}/cgroup.subtree_control"),
        enable.join(" "),
    )?;
    for app in apps {
        create(app)?;
    }
    Ok(())
}

/// Makes `app`'s cgroup with its limits.
pub fn create(app: &App) -> io::Result<()> {
    std::fs::create_dir_all(cgroup_dir(&app.name))?;
    apply(&app.name, &app.resources, false)
}

/// Writes `r` into app `name`'s cgroup; with `reset`, a limit `r` does not
/// set goes back to the kernel's default (`rukt app update` replaces them
/// all).
pub fn apply(name: &str, r: &Resources, reset: bool) -> io::Result<()> {
    let dir = cgroup_dir(name);
    let set = |file: &str, value: Option<String>, default: &str| match value {
        Some(v) => std::fs::write(format!("{dir}/{file}"), v),
        None if reset => std::fs::write(format!("{dir}/{file}"), default),
        None => Ok(()),
    };
    set("memory.max", r.memory.map(|m| m.to_string()), "max")?;
    set(
        "cpu.max",
        r.cpu_quota_us().map(|q| format!("{q} {CPU_PERIOD_US}")),
        &format!("max {CPU_PERIOD_US}"),
    )?;
    set("cpu.weight", r.cpu_weight().map(|w| w.to_string()), "100")?;
    set("pids.max", r.pids.map(|p| p.to_string()), "max")
}

/// Removes app `name`'s cgroup (once nothing runs in it).
pub fn remove(name: &str) {
    let _ = std::fs::remove_dir(cgroup_dir(name));
}

/// The capability numbers outside `app`'s set, to drop from the bounding set.
pub fn dropped_capabilities(app: &App) -> Vec<u32> {
    (0..ALL_CAPABILITIES.len() as u32)
        .filter(|n| {
            !app.capabilities
                .iter()
                .any(|c| c == ALL_CAPABILITIES[*n as usize])
        })
        .collect()
}

/// In the forked child, before its chroot: join the app's cgroup.
pub fn join_cgroup(procs: &std::ffi::CStr) -> io::Result<()> {
    let flags = rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::CLOEXEC;
    match rustix::fs::open(procs, flags, rustix::fs::Mode::empty()) {
        Ok(fd) => {
            rustix::io::write(&fd, b"0")?;
            Ok(())
        }
        // No cgroup2 in this guest kernel and no limit asked for.
        Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// In the forked child, before it drops to the app's user: cut the bounding
/// set and set no_new_privs (unless the app runs without it:
/// `allow_new_privileges`). Only system calls.
pub fn confine(dropped: &[u32], no_new_privs: bool) -> io::Result<()> {
    for cap in dropped {
        // SAFETY: prctl(PR_CAPBSET_DROP) takes a capability number and
        // touches no memory.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, *cap as libc::c_ulong, 0, 0, 0) };
        // EINVAL: a capability this guest kernel does not know.
        if rc != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) touches no memory.
    if no_new_privs && unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
