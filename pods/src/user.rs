//! Resolving `--user`/`--group` (or the image's `User`) against the image's
//! own `/etc/passwd` and `/etc/group`, read from its layers as overlayfs
//! would show them, without following symlinks out of a layer.

use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use rukt_images::unpack::{OPAQUE_XATTR, open_beneath};

/// A user name or group name the image does not know.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    /// Not in `/etc/passwd`.
    #[error("user {0:?} is not in the image's /etc/passwd")]
    NoUser(String),
    /// Not in `/etc/group`.
    #[error("group {0:?} is not in the image's /etc/group")]
    NoGroup(String),
}

/// Resolved ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ids {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups the user is a member of.
    pub supplementary: Vec<u32>,
}

/// Reads `etc/<file>` from layer roots given top first, honouring whiteouts
/// and opaque directories. `None` when the image has no such file.
pub fn read_image_file(layers_top_first: &[PathBuf], file: &str) -> Option<String> {
    for layer in layers_top_first {
        let etc = layer.join("etc");
        match std::fs::symlink_metadata(etc.join(file)) {
            Ok(m) if m.file_type().is_file() => {
                let dir = open_beneath(std::fs::File::open(layer).ok()?, b"etc").ok()?;
                let f = rustix::fs::openat(
                    &dir,
                    file,
                    rustix::fs::OFlags::RDONLY
                        | rustix::fs::OFlags::NOFOLLOW
                        | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .ok()?;
                let mut s = String::new();
                std::fs::File::from(f)
                    .take(4 << 20)
                    .read_to_string(&mut s)
                    .ok()?;
                return Some(s);
            }
            // A whiteout, a symlink or anything else ends the search.
            Ok(m) if m.file_type().is_char_device() && m.rdev() == 0 => return None,
            Ok(_) => return None,
            Err(_) => {}
        }
        let mut v = [0u8; 4];
        let opaque =
            matches!(rustix::fs::lgetxattr(&etc, OPAQUE_XATTR, &mut v[..]), Ok(1) if v[0] == b'y');
        let etc_hidden = std::fs::symlink_metadata(&etc).is_ok_and(|m| !m.is_dir());
        if opaque || etc_hidden {
            return None;
        }
    }
    None
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
}

fn passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
            })
        })
        .collect()
}

fn groups(text: &str) -> Vec<(String, u32, Vec<String>)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let members = f
                .get(3)
                .map(|m| {
                    m.split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?, members))
        })
        .collect()
}

/// Resolves `user` (`NAME`, `UID`, `NAME:GROUP`, `UID:GID`; empty is root)
/// and an optional `group` override.
pub fn resolve(
    user: &str,
    group: Option<&str>,
    passwd_text: Option<&str>,
    group_text: Option<&str>,
) -> Result<Ids, UserError> {
    let (u, g_from_user) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let users = passwd(passwd_text.unwrap_or(""));
    let grps = groups(group_text.unwrap_or(""));
    let (uid, mut gid, name) = if u.is_empty() {
        (0, 0, Some("root".to_string()))
    } else if let Ok(uid) = u.parse::<u32>() {
        let e = users.iter().find(|e| e.uid == uid);
        (uid, e.map_or(0, |e| e.gid), e.map(|e| e.name.clone()))
    } else {
        let e = users
            .iter()
            .find(|e| e.name == u)
            .ok_or_else(|| UserError::NoUser(u.to_string()))?;
        (e.uid, e.gid, Some(e.name.clone()))
    };
    if let Some(g) = group.or(g_from_user).filter(|g| !g.is_empty()) {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => grps
                .iter()
                .find(|(n, _, _)| n == g)
                .map(|(_, id, _)| *id)
                .ok_or_else(|| UserError::NoGroup(g.to_string()))?,
        };
    }
    let mut supplementary: Vec<u32> = match &name {
        Some(n) => grps
            .iter()
            .filter(|(_, _, m)| m.contains(n))
            .map(|(_, id, _)| *id)
            .filter(|id| *id != gid)
            .collect(),
        None => Vec::new(),
    };
    supplementary.sort_unstable();
    supplementary.dedup();
    Ok(Ids {
        uid,
        gid,
        supplementary,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/home/web:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nweb:x:1000:\nwheel:x:10:web,other\n";

    #[test]
    fn names_numbers_and_groups() {
        assert_eq!(
            resolve("", None, Some(PASSWD), Some(GROUP)).unwrap(),
            Ids {
                uid: 0,
                gid: 0,
                supplementary: vec![]
            }
        );
        assert_eq!(
            resolve("web", None, Some(PASSWD), Some(GROUP)).unwrap(),
            Ids {
                uid: 1000,
                gid: 1000,
                supplementary: vec![10]
            }
        );
        assert_eq!(
            resolve("1000:10", None, Some(PASSWD), Some(GROUP))
                .unwrap()
                .gid,
            10
        );
        assert_eq!(
            resolve("web", Some("wheel"), Some(PASSWD), Some(GROUP))
                .unwrap()
                .gid,
            10
        );
        assert_eq!(
            resolve("4242", None, None, None).unwrap(),
            Ids {
                uid: 4242,
                gid: 0,
                supplementary: vec![]
            }
        );
        assert_eq!(
            resolve("nobody", None, Some(PASSWD), None),
            Err(UserError::NoUser("nobody".into()))
        );
        assert_eq!(
            resolve("web", Some("staff"), Some(PASSWD), Some(GROUP)),
            Err(UserError::NoGroup("staff".into()))
        );
    }
}
