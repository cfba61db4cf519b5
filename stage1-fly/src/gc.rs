//! `gc [--debug] UUID`: called by stage0 on an exited pod before it removes
//! the pod directory. Unmounts everything `run` left mounted below each
//! app's root (the host's `/dev`, `/proc`, `/sys`, `/tmp`, volumes, and
//! whatever the app mounted there), but not the root itself: that is
//! stage0's overlay, which stage0 unmounts.
//!
//! Safety-critical: stage0 deletes the pod directory recursively next, and
//! a bind of the host's `/dev` or of a host volume still mounted in there
//! would have it delete host files. So this fails unless nothing is left.
//! Idempotent: with nothing mounted it does nothing and succeeds.

use std::collections::BTreeSet;
use std::ffi::OsString;

use anyhow::Context;
use rukt_contract::{APPS_DIR, GcArgs};
use tracing::debug;

/// Unmounts below every app root of the pod.
pub fn gc(args: &GcArgs) -> anyhow::Result<()> {
    let pod = rukt_contract::runtime::load_manifest(&args.uuid)?;
    // The manifest's apps, and any other app directory found: a root left
    // mounted below by anyone must not survive into stage0's removal.
    let mut apps: BTreeSet<OsString> = pod.apps.iter().map(|a| a.name.clone().into()).collect();
    match std::fs::read_dir(APPS_DIR) {
        Ok(dir) => {
            for entry in dir {
                // One component, never `.` or `..`: it cannot lead elsewhere.
                apps.insert(entry.context("cannot list apps/")?.file_name());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context("cannot list apps/"),
    }
    let pod_dir = std::env::current_dir().context("cannot get the pod directory's path")?;
    for app in &apps {
        // Not `app_rootfs`: a directory name need not be UTF-8.
        let rootfs = pod_dir.join(APPS_DIR).join(app).join("rootfs");
        debug!("unmounting below {}", rootfs.display());
        rukt_sys::unmount::unmount_inside(&rootfs)?;
    }
    Ok(())
}
