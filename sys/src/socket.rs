//! Listening unix sockets for rukt's services (`rukt-api-service`,
//! `rukt-cri`): bound with a mode no wider than asked, not even for a
//! moment (the umask is narrowed around `bind(2)`), and a stale socket file
//! nobody accepts on replaced.

use std::io;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Why a socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Something other than a socket is at the path.
    #[error("{0} exists and is not a socket")]
    NotSocket(PathBuf),
    /// Another process accepts on it.
    #[error("{0} is in use by another service")]
    InUse(PathBuf),
    /// A system call failed.
    #[error("cannot {action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On what.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BindError + 'a {
    move |source| BindError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Binds a unix socket at `path` with `mode` (e.g. `0o660`); a stale
/// socket file (no one accepting on it) is replaced, anything else at the
/// path is an error.
pub fn bind_unix(path: &Path, mode: u32) -> Result<UnixListener, BindError> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if !m.file_type().is_socket() {
            return Err(BindError::NotSocket(path.to_path_buf()));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(BindError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(io_err("remove", path))?;
    }
    let old = rustix::process::umask(rustix::fs::Mode::from_raw_mode(!mode & 0o777));
    let bound = UnixListener::bind(path);
    rustix::process::umask(old);
    let l = bound.map_err(io_err("listen on", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_err("set the mode of", path))?;
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn mode_is_set_stale_replaced_live_and_files_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.sock");
        let l = bind_unix(&p, 0o660).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o660);
        assert!(matches!(bind_unix(&p, 0o660), Err(BindError::InUse(_))));
        drop(l);
        bind_unix(&p, 0o600).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        let f = d.path().join("file");
        std::fs::write(&f, "x").unwrap();
        assert!(matches!(bind_unix(&f, 0o660), Err(BindError::NotSocket(_))));
    }
}
