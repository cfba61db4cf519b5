//! The metadata of one tar entry: mode, owner, time and the xattrs rukt
//! keeps, with PAX records overriding the header.

use std::io::{self, Read};

use rustix::fs::{Timespec, Timestamps};
use tracing::debug;

/// Metadata of one entry, with PAX overrides applied.
pub(crate) struct Meta {
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) mtime: Timespec,
    pub(crate) xattrs: Vec<(String, Vec<u8>)>,
}

pub(crate) fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let h = entry.header();
    let mut meta = Meta {
        mode: h.mode()? & 0o7777,
        uid: h.uid()?,
        gid: h.gid()?,
        mtime: Timespec {
            tv_sec: h.mtime()? as i64,
            tv_nsec: 0,
        },
        xattrs: Vec::new(),
    };
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            let num = || {
                std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
            };
            match key {
                "uid" => meta.uid = num().unwrap_or(meta.uid),
                "gid" => meta.gid = num().unwrap_or(meta.gid),
                "mtime" => {
                    if let Some(t) = std::str::from_utf8(value).ok().and_then(parse_pax_time) {
                        meta.mtime = t;
                    }
                }
                k => {
                    if let Some(name) = k.strip_prefix("SCHILY.xattr.") {
                        if name.starts_with("user.") || name == "security.capability" {
                            meta.xattrs.push((name.to_string(), value.to_vec()));
                        } else {
                            debug!(xattr = name, "dropping xattr from image");
                        }
                    }
                }
            }
        }
    }
    Ok(meta)
}

fn parse_pax_time(s: &str) -> Option<Timespec> {
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec = sec.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    while digits.len() < 9 {
        digits.push('0');
    }
    Some(Timespec {
        tv_sec,
        tv_nsec: digits.parse().ok()?,
    })
}

pub(crate) fn times(mtime: Timespec) -> Timestamps {
    Timestamps {
        last_access: mtime,
        last_modification: mtime,
    }
}

pub(crate) fn uid(id: u64) -> Option<rustix::fs::Uid> {
    u32::try_from(id).ok().map(rustix::fs::Uid::from_raw)
}

pub(crate) fn gid(id: u64) -> Option<rustix::fs::Gid> {
    u32::try_from(id).ok().map(rustix::fs::Gid::from_raw)
}
