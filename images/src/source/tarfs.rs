//! Random access to the regular files inside an uncompressed tar, by
//! indexing member offsets once; blobs are then read in place.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// An indexed tar file.
pub struct TarFs {
    path: PathBuf,
    members: HashMap<String, (u64, u64)>,
}

impl TarFs {
    /// Indexes the tar at `path` (reads headers only, seeking over content).
    pub fn open(path: &Path) -> io::Result<TarFs> {
        let file = File::open(path)?;
        let mut archive = tar::Archive::new(file);
        let mut members = HashMap::new();
        for entry in archive.entries_with_seek()? {
            let entry = entry?;
            if entry.header().entry_type().is_file() {
                let name = entry
                    .path()?
                    .to_string_lossy()
                    .trim_start_matches("./")
                    .to_string();
                members.insert(name, (entry.raw_file_position(), entry.size()));
            }
        }
        Ok(TarFs {
            path: path.to_path_buf(),
            members,
        })
    }

    /// Whether the tar holds a file named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    /// The size of member `name`.
    pub fn size(&self, name: &str) -> Option<u64> {
        self.members.get(name).map(|&(_, s)| s)
    }

    /// Opens member `name`.
    pub fn open_member(&self, name: &str) -> io::Result<impl Read + Send + use<>> {
        let &(offset, size) = self.members.get(name).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{name} is not in the archive"),
            )
        })?;
        let mut f = File::open(&self.path)?;
        f.seek(SeekFrom::Start(offset))?;
        Ok(f.take(size))
    }

    /// Reads member `name` whole, refusing more than `limit` bytes.
    pub fn read_member(&self, name: &str, limit: u64) -> io::Result<Vec<u8>> {
        if self.size(name).is_some_and(|s| s > limit) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{name} is larger than {limit} bytes"),
            ));
        }
        let mut out = Vec::new();
        self.open_member(name)?.read_to_end(&mut out)?;
        Ok(out)
    }
}
