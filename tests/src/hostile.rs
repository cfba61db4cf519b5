//! Hostile layers: tar streams written header by header (the `tar` crate refuses to write `..`
//! or absolute names), one per attack a layer unpacker must refuse, plus a decompression bomb.

use std::fs;
use std::path::{Path, PathBuf};

use crate::image::{Compression, DEFAULT_MTIME, Layer};

/// One raw tar entry; `name` and `link` go into the header verbatim (at most 100 bytes each).
#[derive(Clone, Debug)]
pub struct RawEntry {
    pub name: Vec<u8>,
    pub kind: tar::EntryType,
    pub link: Vec<u8>,
    pub data: Vec<u8>,
    pub mode: u32,
    pub device: (u32, u32),
}

impl RawEntry {
    pub fn file(name: &str, data: &[u8]) -> Self {
        Self::new(name, tar::EntryType::Regular, "", data, 0o644)
    }

    pub fn dir(name: &str) -> Self {
        Self::new(name, tar::EntryType::Directory, "", b"", 0o755)
    }

    pub fn symlink(name: &str, target: &str) -> Self {
        Self::new(name, tar::EntryType::Symlink, target, b"", 0o777)
    }

    pub fn hardlink(name: &str, target: &str) -> Self {
        Self::new(name, tar::EntryType::Link, target, b"", 0o644)
    }

    pub fn char_device(name: &str, major: u32, minor: u32) -> Self {
        let mut e = Self::new(name, tar::EntryType::Char, "", b"", 0o666);
        e.device = (major, minor);
        e
    }

    fn new(name: &str, kind: tar::EntryType, link: &str, data: &[u8], mode: u32) -> Self {
        Self {
            name: name.as_bytes().to_vec(),
            kind,
            link: link.as_bytes().to_vec(),
            data: data.to_vec(),
            mode,
            device: (0, 0),
        }
    }

    /// The 512-byte ustar header of this entry.
    pub fn header(&self) -> [u8; 512] {
        assert!(
            self.name.len() <= 100,
            "raw tar names are limited to 100 bytes"
        );
        assert!(
            self.link.len() <= 100,
            "raw tar link names are limited to 100 bytes"
        );
        let mut h = tar::Header::new_ustar();
        h.set_mode(self.mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(DEFAULT_MTIME);
        h.set_size(self.data.len() as u64);
        h.set_entry_type(self.kind);
        if self.device != (0, 0) {
            h.set_device_major(self.device.0).expect("device major");
            h.set_device_minor(self.device.1).expect("device minor");
        }
        let old = h.as_old_mut();
        old.name[..self.name.len()].copy_from_slice(&self.name);
        old.linkname[..self.link.len()].copy_from_slice(&self.link);
        h.set_cksum();
        *h.as_bytes()
    }
}

/// A tar stream of `entries`, headers written verbatim, ending with two zero blocks.
pub fn raw_tar(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&e.header());
        out.extend_from_slice(&e.data);
        out.resize(out.len().next_multiple_of(512), 0);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

/// `../` repeated deep enough to leave any store directory and reach `/`.
const UP: &str = "../../../../../../../../../../../../../../../../";

/// The attacks. Each layer is built around a `marker`, a name unique to the test, so that the
/// host path a naive unpacker would write (`/tmp/<marker>`) can be checked afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hostile {
    /// A file named `../../…/tmp/<marker>`.
    DotDot,
    /// A file named `/tmp/<marker>`.
    Absolute,
    /// Symlink `evil -> /`, then a file `evil/tmp/<marker>` written through it.
    SymlinkToRoot,
    /// Symlink `evil -> ../../…`, then a file `evil/tmp/<marker>` written through it.
    SymlinkUp,
    /// Hard link `hostile-link` to `../../…/etc/passwd` (nothing written through it: a buggy
    /// unpacker must not be able to damage the host running the tests).
    HardlinkUp,
    /// Hard link `hostile-link` to `/etc/passwd` (ditto).
    HardlinkAbsolute,
    /// Hard link `hostile-link` to `../../…/tmp/<marker>.canary`, a file the test creates, then a
    /// regular file `hostile-link` whose content a naive unpacker writes into the canary.
    HardlinkWriteThrough,
    /// A whiteout with an empty name: a file named `.wh.`.
    BareWhiteout,
    /// A character device `evil-null` (1:3, what /dev/null is).
    CharDevice,
}

impl Hostile {
    pub const ALL: [Hostile; 9] = [
        Hostile::DotDot,
        Hostile::Absolute,
        Hostile::SymlinkToRoot,
        Hostile::SymlinkUp,
        Hostile::HardlinkUp,
        Hostile::HardlinkAbsolute,
        Hostile::HardlinkWriteThrough,
        Hostile::BareWhiteout,
        Hostile::CharDevice,
    ];

    /// The tar entries of the attack.
    pub fn entries(self, marker: &str) -> Vec<RawEntry> {
        let payload = b"written by a hostile layer\n";
        match self {
            Hostile::DotDot => vec![RawEntry::file(&format!("{UP}tmp/{marker}"), payload)],
            Hostile::Absolute => vec![RawEntry::file(&format!("/tmp/{marker}"), payload)],
            Hostile::SymlinkToRoot => vec![
                RawEntry::symlink("evil", "/"),
                RawEntry::file(&format!("evil/tmp/{marker}"), payload),
            ],
            Hostile::SymlinkUp => vec![
                RawEntry::symlink("evil", UP.trim_end_matches('/')),
                RawEntry::file(&format!("evil/tmp/{marker}"), payload),
            ],
            Hostile::HardlinkUp => vec![RawEntry::hardlink(
                "hostile-link",
                &format!("{UP}etc/passwd"),
            )],
            Hostile::HardlinkAbsolute => vec![RawEntry::hardlink("hostile-link", "/etc/passwd")],
            Hostile::HardlinkWriteThrough => vec![
                RawEntry::hardlink("hostile-link", &format!("{UP}tmp/{marker}.canary")),
                RawEntry::file("hostile-link", payload),
            ],
            Hostile::BareWhiteout => vec![RawEntry::file(".wh.", b"")],
            Hostile::CharDevice => vec![RawEntry::char_device("evil-null", 1, 3)],
        }
    }

    /// The attack as a gzip layer.
    pub fn layer(self, marker: &str) -> Layer {
        Layer::raw(Compression::Gzip, raw_tar(&self.entries(marker)))
    }

    /// Strings of which the error message must contain at least one: the offending entry's
    /// path (or its link target).
    pub fn offending(self, marker: &str) -> Vec<String> {
        match self {
            Hostile::DotDot | Hostile::Absolute => vec![marker.to_owned()],
            Hostile::SymlinkToRoot | Hostile::SymlinkUp => vec!["evil".to_owned()],
            Hostile::HardlinkUp | Hostile::HardlinkAbsolute => {
                vec!["hostile-link".to_owned(), "etc/passwd".to_owned()]
            }
            Hostile::HardlinkWriteThrough => vec!["hostile-link".to_owned(), marker.to_owned()],
            Hostile::BareWhiteout => vec![".wh.".to_owned()],
            Hostile::CharDevice => vec!["evil-null".to_owned()],
        }
    }

    /// Sets up the host side of the attack (the canary file) and returns a guard that checks
    /// the host afterwards and cleans up.
    pub fn arm(self, marker: &str) -> HostGuard {
        let guard = HostGuard {
            target: PathBuf::from(format!("/tmp/{marker}")),
            canary: PathBuf::from(format!("/tmp/{marker}.canary")),
            passwd: fingerprint(Path::new("/etc/passwd")),
        };
        fs::write(&guard.canary, CANARY).expect("writing the canary file");
        guard
    }
}

const CANARY: &[u8] = b"canary: must stay as it is\n";

/// What the host looked like before a hostile fetch; `check` asserts nothing escaped.
pub struct HostGuard {
    target: PathBuf,
    canary: PathBuf,
    passwd: (Vec<u8>, u64),
}

fn fingerprint(path: &Path) -> (Vec<u8>, u64) {
    use std::os::unix::fs::MetadataExt;
    let content = fs::read(path).unwrap_or_default();
    let nlink = fs::metadata(path).map(|m| m.nlink()).unwrap_or(0);
    (content, nlink)
}

impl HostGuard {
    /// Panics if the attack reached the host: `/tmp/<marker>` created, the canary written or
    /// linked, `/etc/passwd` changed or linked.
    pub fn check(&self) {
        use std::os::unix::fs::MetadataExt;
        assert!(
            fs::symlink_metadata(&self.target).is_err(),
            "the hostile layer wrote {} outside the store",
            self.target.display()
        );
        assert_eq!(
            fs::read(&self.canary).expect("reading the canary"),
            CANARY,
            "the hostile layer wrote through a hard link into {}",
            self.canary.display()
        );
        assert_eq!(
            fs::metadata(&self.canary).expect("canary metadata").nlink(),
            1,
            "a hard link to {} was left behind",
            self.canary.display()
        );
        assert!(
            fingerprint(Path::new("/etc/passwd")) == self.passwd,
            "/etc/passwd changed (content or link count) during the hostile fetch"
        );
    }
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.target);
        let _ = fs::remove_file(&self.canary);
    }
}

/// A gzip layer whose tar holds one file `bomb` of `inflated` zero bytes: tiny on the wire
/// (about 1/1000 of `inflated`), huge once decompressed.
pub fn gzip_bomb(inflated: usize) -> Layer {
    let mut tar = Vec::with_capacity(inflated + 2048);
    let mut h = tar::Header::new_ustar();
    h.set_path("bomb").expect("bomb path");
    h.set_mode(0o644);
    h.set_mtime(DEFAULT_MTIME);
    h.set_size(inflated as u64);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.resize(tar.len() + inflated.next_multiple_of(512) + 1024, 0);
    Layer::raw(Compression::Gzip, tar)
}
