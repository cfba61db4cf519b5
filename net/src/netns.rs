//! Named network namespaces, as `ip netns` keeps them: a pod's namespace
//! is bind-mounted on `/run/netns/rukt-<uuid>`, so CNI plugins get a path
//! (`CNI_NETNS`), `ip netns exec rukt-<uuid> ...` works for an operator,
//! and the namespace outlives no one by accident: removing the mount and
//! the file frees it once the pod's processes are gone.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

/// Where named network namespaces live.
pub const NETNS_DIR: &str = "/run/netns";

/// The namespace file of pod `uuid`.
pub fn path_for(uuid: &str) -> PathBuf {
    Path::new(NETNS_DIR).join(format!("rukt-{uuid}"))
}

/// A failure on a network namespace.
#[derive(Debug, thiserror::Error)]
#[error("{what} network namespace {}", path.display())]
pub struct NetnsError {
    what: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

fn err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> NetnsError + 'a {
    move |source| NetnsError {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// The calling thread's network namespace, to come back to.
pub fn current() -> io::Result<OwnedFd> {
    Ok(File::open("/proc/thread-self/ns/net")?.into())
}

/// Moves the calling thread into the network namespace `ns`.
pub fn enter(ns: impl AsFd) -> io::Result<()> {
    nix::sched::setns(ns, CloneFlags::CLONE_NEWNET).map_err(errno)
}

/// Creates a new network namespace bound at `path` without entering it;
/// returns a descriptor of it. A file left at `path` by an earlier crash is
/// removed first.
pub fn create(path: &Path) -> Result<OwnedFd, NetnsError> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(dir).map_err(err("cannot create the directory of", path))?;
    remove(path)?;
    File::create_new(path).map_err(err("cannot create", path))?;
    let made = (|| -> io::Result<OwnedFd> {
        let host = current()?;
        nix::sched::unshare(CloneFlags::CLONE_NEWNET).map_err(errno)?;
        let bound = nix::mount::mount(
            Some("/proc/thread-self/ns/net"),
            path,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(errno);
        // Back to where we were before anything else can fail.
        enter(&host)?;
        bound?;
        Ok(File::open(path)?.into())
    })();
    made.map_err(|e| {
        let _ = remove(path);
        err("cannot create", path)(e)
    })
}

/// Opens the namespace bound at `path`.
pub fn open(path: &Path) -> Result<OwnedFd, NetnsError> {
    Ok(File::open(path).map_err(err("cannot open", path))?.into())
}

/// Unbinds and removes `path`; nothing there is not an error.
pub fn remove(path: &Path) -> Result<(), NetnsError> {
    match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::Error::EINVAL) | Err(nix::Error::ENOENT) => {}
        Err(e) => return Err(err("cannot unmount", path)(errno(e))),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(err("cannot remove", path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(path_for("ab-12"), Path::new("/run/netns/rukt-ab-12"));
    }

    #[test]
    fn create_bind_and_remove() {
        if !nix::unistd::geteuid().is_root() {
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ns/pod");
        let before = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        let fd = create(&path).unwrap();
        // The caller stays where it was; the new namespace is another one.
        assert_eq!(
            std::fs::read_link("/proc/thread-self/ns/net").unwrap(),
            before
        );
        let st = nix::sys::stat::fstat(&fd).unwrap();
        let host = nix::sys::stat::stat(&before_path()).unwrap();
        assert_ne!(st.st_ino, host.st_ino);
        drop(fd);
        // A second create over the same path replaces it.
        drop(create(&path).unwrap());
        remove(&path).unwrap();
        assert!(!path.exists());
        remove(&path).unwrap();
    }

    fn before_path() -> PathBuf {
        PathBuf::from("/proc/thread-self/ns/net")
    }
}
