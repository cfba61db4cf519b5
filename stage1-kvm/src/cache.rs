//! Artifacts built once and kept in the cache directory: each named by a
//! digest of what it was built from (paths, sizes, mtimes, inode numbers of
//! the inputs and a format version), written to a temporary file, synced
//! and renamed into place (`rukt_sys::atomic`), so concurrent pods build at
//! worst twice and never read half a file, and a crash never leaves an empty
//! artifact under its final name for every later boot to trust.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

/// A digest of the identity of `inputs` (and of `salt`), short and hex.
pub fn key(salt: &str, inputs: &[&Path]) -> anyhow::Result<String> {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    for p in inputs {
        let m = std::fs::metadata(p).with_context(|| format!("cannot stat {}", p.display()))?;
        h.update(
            format!(
                "\0{}\0{}:{}:{}:{}.{}",
                p.display(),
                m.dev(),
                m.ino(),
                m.size(),
                m.mtime(),
                m.mtime_nsec()
            )
            .as_bytes(),
        );
    }
    let digest = h.finalize();
    Ok(digest[..10].iter().map(|b| format!("{b:02x}")).collect())
}

/// `dir/name`, built by `build` unless it exists.
pub fn get_or_build(
    dir: &Path,
    name: &str,
    build: impl FnOnce() -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<PathBuf> {
    let path = dir.join(name);
    if path.is_file() {
        return Ok(path);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let data = build()?;
    rukt_sys::atomic::write_atomic(&path, &data)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_follows_inputs_and_builds_once() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("input");
        std::fs::write(&f, b"one").unwrap();
        let k1 = key("v1", &[&f]).unwrap();
        assert_eq!(k1, key("v1", &[&f]).unwrap());
        assert_ne!(k1, key("v2", &[&f]).unwrap());
        std::fs::write(&f, b"three").unwrap();
        assert_ne!(k1, key("v1", &[&f]).unwrap());

        let mut builds = 0;
        for _ in 0..2 {
            let p = get_or_build(dir.path(), "art", || {
                builds += 1;
                Ok(b"built".to_vec())
            })
            .unwrap();
            assert_eq!(std::fs::read(p).unwrap(), b"built");
        }
        assert_eq!(builds, 1);
    }
}
