//! The mounts `run` makes inside the app's root filesystem, in the host's
//! mount namespace: the host's `/dev`, `/proc` and `/sys` (recursive binds),
//! a fresh `/tmp`, then the app's volumes. Mount propagation is set so that
//! none of them is copied anywhere else, nor propagates an unmount back to
//! the host. Every target is resolved inside
//! the root ([`crate::resolve`]). Nothing here undoes itself: on failure the
//! caller unmounts everything below the root
//! (`rukt_sys::unmount::unmount_inside`).

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;

use anyhow::{Context, bail};
use rukt_contract::{App, Mount, PodManifest, Propagation, VOLUMES_DIR, VolumeKind};
use rustix::fs::{Mode, OFlags, StatVfsMountFlags};
use rustix::mount::{MountFlags, MountPropagationFlags};
use tracing::debug;

use crate::resolve::{self, Kind, fd_path};

/// Host trees bound recursively into every fly app.
const HOST_TREES: [&str; 3] = ["/dev", "/proc", "/sys"];

/// Makes all of the app's mounts below `root`.
pub fn setup(pod: &PodManifest, app: &App, root: BorrowedFd<'_>) -> anyhow::Result<()> {
    // First the root itself becomes a slave: if stage0's mount is shared
    // (its parent is, as `/` is on systemd hosts), everything mounted below
    // would also be copied into each of its peers (binds of the pods
    // directory, other namespaces), out of `gc`'s reach. A slave still
    // receives the host's mount events.
    rustix::mount::mount_change(fd_path(root), MountPropagationFlags::DOWNSTREAM)
        .context("cannot make the app's root a slave mount (is it a mount point?)")?;
    for tree in HOST_TREES {
        bind_host_tree(root, tree)?;
    }
    let tmp = target(root, "/tmp", Kind::Dir)?;
    debug!("mounting a tmpfs on /tmp");
    rustix::mount::mount(
        "tmpfs",
        fd_path(&tmp),
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        c"mode=1777",
    )
    .context("cannot mount a tmpfs on /tmp")?;
    for mount in &app.mounts {
        bind_volume(pod, root, mount).with_context(|| {
            format!("cannot mount volume {:?} on {}", mount.volume, mount.target)
        })?;
    }
    Ok(())
}

/// Binds the host's `tree` recursively onto the same path in the app, then
/// makes the copy a slave: mounts the host makes later still appear in the
/// app, but nothing unmounted in the app (or by `gc`) propagates back to the
/// host, even where the host's tree is shared.
fn bind_host_tree(root: BorrowedFd<'_>, tree: &str) -> anyhow::Result<()> {
    let target = target(root, tree, Kind::Dir)?;
    debug!("binding the host's {tree}");
    rustix::mount::mount_bind_recursive(tree, fd_path(&target))
        .with_context(|| format!("cannot bind the host's {tree}"))?;
    let mounted = resolve::open(root, tree, Kind::Dir)
        .with_context(|| format!("cannot open {tree} after mounting it"))?;
    rustix::mount::mount_change(
        fd_path(&mounted),
        MountPropagationFlags::DOWNSTREAM | MountPropagationFlags::REC,
    )
    .with_context(|| format!("cannot make {tree} a slave mount"))
}

/// Binds a volume's source onto the mount's target, read-only if the
/// volume says so. By default not recursively (as rkt fly: mounts below the
/// source stay out) and as a slave (the host's later mounts appear, nothing
/// goes back); `recursive=true` brings the source's submounts, and
/// `propagation=shared` makes the bind a peer of the source, so a mount the
/// app makes below it appears on the host at the source, as rkt's fly did for
/// kubelet (docs/stage1-fly.md).
/// Binds the host file `source` (a socket, say) onto `at` in the app's root,
/// as a private mount; `gc` removes it with the rest.
pub fn bind_file(root: BorrowedFd<'_>, source: &str, at: &str) -> anyhow::Result<()> {
    let source = rustix::fs::open(source, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .with_context(|| format!("cannot open {source}"))?;
    let target = target(root, at, Kind::File)?;
    debug!("binding a file on {at}");
    rustix::mount::mount_bind(fd_path(&source), fd_path(&target)).context("cannot bind it")?;
    Ok(())
}

fn bind_volume(pod: &PodManifest, root: BorrowedFd<'_>, mount: &Mount) -> anyhow::Result<()> {
    let volume = pod
        .volume(&mount.volume)
        .context("the pod has no such volume")?;
    let source_path = match &volume.kind {
        VolumeKind::Host { source } => source.clone(),
        VolumeKind::Empty => {
            if volume.name.is_empty() || volume.name.contains('/') || volume.name == ".." {
                bail!("invalid volume name {:?}", volume.name);
            }
            PathBuf::from(VOLUMES_DIR).join(&volume.name)
        }
    };
    let source = rustix::fs::open(&source_path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .with_context(|| format!("cannot open {}", source_path.display()))?;
    let kind = Kind::of(rustix::fs::FileType::from_raw_mode(
        rustix::fs::fstat(&source)?.st_mode,
    ));
    let target = target(root, &mount.target, kind)?;
    let shared = volume.propagation == Some(Propagation::Shared);
    if shared {
        rukt_sys::propagation::make_shared(&source_path)
            .with_context(|| format!("cannot make {} a shared mount", source_path.display()))?;
    }
    debug!(
        recursive = ?volume.recursive,
        propagation = ?volume.propagation,
        "binding {} on {}",
        source_path.display(),
        mount.target
    );
    if volume.recursive == Some(true) {
        rustix::mount::mount_bind_recursive(fd_path(&source), fd_path(&target))
    } else {
        rustix::mount::mount_bind(fd_path(&source), fd_path(&target))
    }
    .context("cannot bind it")?;
    let mounted = resolve::open(root, &mount.target, kind)
        .context("cannot open the target after mounting it")?;
    // A bind of a shared source is its peer: unless asked, cut it to a slave
    // (or private) so nothing the app mounts reaches the host.
    let propagation = match volume.propagation {
        Some(Propagation::Shared) => None,
        Some(Propagation::Private) => Some(MountPropagationFlags::PRIVATE),
        Some(Propagation::Slave) | None => Some(MountPropagationFlags::DOWNSTREAM),
    };
    if let Some(p) = propagation {
        rustix::mount::mount_change(fd_path(&mounted), p | MountPropagationFlags::REC)
            .context("cannot set its propagation")?;
    }
    if volume.read_only {
        remount_read_only(&mounted).context("cannot make it read-only")?;
    }
    Ok(())
}

/// Opens `path` in the app's root, creating it if missing, and refuses the
/// root itself: a mount there would cover the whole app (and hide from `gc`,
/// which unmounts what is strictly below the root).
fn target(root: BorrowedFd<'_>, path: &str, kind: Kind) -> anyhow::Result<OwnedFd> {
    let fd = resolve::open_or_create(root, path, kind)
        .with_context(|| format!("cannot open or create {path} in the app's root"))?;
    let (ours, theirs) = (rustix::fs::fstat(&fd)?, rustix::fs::fstat(root)?);
    if (ours.st_dev, ours.st_ino) == (theirs.st_dev, theirs.st_ino) {
        bail!("{path} is the app's root directory");
    }
    Ok(fd)
}

/// Remounts the bind mount `mounted` read-only, keeping its other per-mount
/// flags (a bind remount sets all of them: dropping `nosuid` or `noexec` of
/// the source would loosen it).
fn remount_read_only(mounted: impl AsFd) -> std::io::Result<()> {
    let current = rustix::fs::fstatvfs(&mounted)?.f_flag;
    let mut flags = MountFlags::BIND | MountFlags::RDONLY;
    for (statvfs, mount) in [
        (StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        (StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
        (StatVfsMountFlags::NODIRATIME, MountFlags::NODIRATIME),
        (StatVfsMountFlags::RELATIME, MountFlags::RELATIME),
    ] {
        if current.contains(statvfs) {
            flags |= mount;
        }
    }
    Ok(rustix::mount::mount_remount(fd_path(&mounted), flags, "")?)
}
