//! Small state files (`pid`, `ready`, `status/<app>`), written atomically:
//! to a temporary name in the same directory, then renamed over the final
//! one, so that a reader sees either nothing or the whole content.

use std::io::Write;
use std::os::fd::AsFd;

use rustix::fs::{Mode, OFlags};

/// Writes `contents` to `name` in the directory `dir`.
pub fn write_atomic(dir: impl AsFd, name: &str, contents: &[u8]) -> std::io::Result<()> {
    let dir = dir.as_fd();
    let tmp = format!(".{name}.tmp");
    let fd = rustix::fs::openat(
        dir,
        &tmp,
        OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )?;
    let written = std::fs::File::from(fd).write_all(contents);
    let renamed = written.and_then(|()| Ok(rustix::fs::renameat(dir, &tmp, dir, name)?));
    if renamed.is_err() {
        let _ = rustix::fs::unlinkat(dir, &tmp, rustix::fs::AtFlags::empty());
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = std::fs::File::open(tmp.path()).unwrap();
        write_atomic(&dir, "pid", b"12").unwrap();
        write_atomic(&dir, "pid", b"3").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("pid")).unwrap(), b"3");
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["pid"]);
    }
}
