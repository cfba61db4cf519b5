//! `image verify`: re-hash an image's stored blobs, and check each unpacked
//! layer against its blob entry by entry (type, mode, owner, size, content,
//! link target), reporting extra files too. Everything a pod would read
//! from the store is covered.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::digest::{Algorithm, Digest, Hasher, VerifyingReader};
use crate::fetch::stream::{Decoder, buffered};
use crate::media::layer_compression;
use crate::store::{ImageRecord, Store};
use crate::unpack::path::components;

/// What a layer entry should look like on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Dir {
        mode: u32,
        uid: u64,
        gid: u64,
    },
    File {
        mode: u32,
        uid: u64,
        gid: u64,
        size: u64,
        sha256: Digest,
    },
    Symlink {
        target: PathBuf,
    },
    HardLink {
        target: PathBuf,
    },
    Fifo,
    Whiteout,
    /// Not created by the unpacker (device nodes).
    Skipped,
}

/// Checks one image; returns the problems found (empty when intact).
pub fn verify(store: &Store, rec: &ImageRecord) -> Vec<String> {
    let mut problems = Vec::new();
    for d in rec.blobs() {
        if let Err(p) = check_blob(store, d) {
            problems.push(p);
        }
    }
    for l in &rec.layers {
        if !store.has_layer(&l.diff_id) {
            problems.push(format!("layer {}: not unpacked in the store", l.diff_id));
            continue;
        }
        if let Err(p) = check_layer(store, &l.blob, &l.media_type, &l.diff_id) {
            problems.extend(p);
        }
    }
    problems
}

fn check_blob(store: &Store, d: &Digest) -> Result<(), String> {
    let p = store.blob_path(d);
    let f = File::open(&p).map_err(|e| format!("blob {d}: {e}"))?;
    VerifyingReader::new(f, d.algorithm(), None)
        .verify(d)
        .map_err(|e| format!("blob {d}: {e}"))?;
    Ok(())
}

fn check_layer(
    store: &Store,
    blob: &Digest,
    media_type: &str,
    diff_id: &Digest,
) -> Result<(), Vec<String>> {
    let one = |m: String| vec![format!("layer {diff_id}: {m}")];
    let compression = layer_compression(media_type)
        .ok_or_else(|| one(format!("unsupported media type {media_type}")))?;
    let f = File::open(store.blob_path(blob)).map_err(|e| one(e.to_string()))?;
    let decoder = Decoder::new(buffered(f), compression).map_err(|e| one(e.to_string()))?;
    let mut tar_stream = VerifyingReader::new(decoder, Algorithm::Sha256, None);
    let expected =
        expectations(&mut tar_stream).map_err(|e| one(format!("cannot read the blob: {e}")))?;
    if let Err(e) = tar_stream.verify(diff_id) {
        return Err(one(format!("blob does not match the diff_id: {e}")));
    }
    let root = store.layer_rootfs(diff_id);
    let mut problems: Vec<String> = Vec::new();
    for (rel, want) in &expected {
        if let Some(p) = compare(&root, rel, want) {
            problems.push(format!("layer {diff_id}: {}: {p}", rel.display()));
        }
    }
    let mut extra = Vec::new();
    walk(&root, PathBuf::new(), &mut extra);
    for rel in extra {
        // Parent directories a tar omits are created implicitly.
        let implied = expected.keys().any(|k| k.starts_with(&rel) && k != &rel);
        if !expected.contains_key(&rel) && !implied {
            problems.push(format!(
                "layer {diff_id}: {}: not in the layer blob",
                rel.display()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

fn expectations(r: impl Read) -> io::Result<BTreeMap<PathBuf, Expect>> {
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(r);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw = entry.path_bytes().into_owned();
        let Ok(comps) = components(&raw) else {
            continue;
        };
        let Some((name, parents)) = comps.split_last() else {
            continue;
        };
        let parent: PathBuf = parents
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let name = String::from_utf8_lossy(name).into_owned();
        if name == ".wh..wh..opq" {
            continue;
        }
        if let Some(hidden) = name.strip_prefix(".wh.") {
            out.insert(parent.join(hidden), Expect::Whiteout);
            continue;
        }
        let h = entry.header();
        let (mode, uid, gid) = (h.mode()? & 0o7777, h.uid()?, h.gid()?);
        let want = match h.entry_type() {
            tar::EntryType::Directory => Expect::Dir { mode, uid, gid },
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut hasher = Hasher::new(Algorithm::Sha256);
                let mut buf = vec![0u8; 1 << 16];
                let mut size = 0;
                loop {
                    let n = entry.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    size += n as u64;
                    hasher.update(&buf[..n]);
                }
                Expect::File {
                    mode,
                    uid,
                    gid,
                    size,
                    sha256: hasher.finish(),
                }
            }
            tar::EntryType::Symlink => Expect::Symlink {
                target: entry
                    .link_name()?
                    .map(|c| c.into_owned())
                    .unwrap_or_default(),
            },
            tar::EntryType::Link => {
                let t = entry
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                let Ok(tc) = components(&t) else { continue };
                Expect::HardLink {
                    target: tc
                        .iter()
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect(),
                }
            }
            tar::EntryType::Fifo => Expect::Fifo,
            tar::EntryType::XGlobalHeader | tar::EntryType::XHeader => continue,
            _ => Expect::Skipped,
        };
        out.insert(parent.join(name), want);
    }
    Ok(out)
}

fn compare(root: &Path, rel: &Path, want: &Expect) -> Option<String> {
    let path = root.join(rel);
    let meta = std::fs::symlink_metadata(&path);
    let meta = match (want, meta) {
        (Expect::Skipped, Err(_)) => return None,
        (_, Err(e)) => return Some(format!("missing ({e})")),
        (_, Ok(m)) => m,
    };
    let ft = meta.file_type();
    let owner = |mode: u32, uid: u64, gid: u64| {
        if meta.mode() & 0o7777 != mode {
            Some(format!(
                "mode {:o}, expected {mode:o}",
                meta.mode() & 0o7777
            ))
        } else if u64::from(meta.uid()) != uid || u64::from(meta.gid()) != gid {
            Some(format!(
                "owner {}:{}, expected {uid}:{gid}",
                meta.uid(),
                meta.gid()
            ))
        } else {
            None
        }
    };
    match want {
        Expect::Dir { mode, uid, gid } if ft.is_dir() => owner(*mode, *uid, *gid),
        Expect::File {
            mode,
            uid,
            gid,
            size,
            sha256,
        } if ft.is_file() => {
            if meta.len() != *size {
                return Some(format!("size {}, expected {size}", meta.len()));
            }
            let actual = File::open(&path)
                .and_then(|f| VerifyingReader::new(f, Algorithm::Sha256, None).finish());
            match actual {
                Ok((d, _)) if &d == sha256 => owner(*mode, *uid, *gid),
                Ok(_) => Some("content differs from the layer blob".into()),
                Err(e) => Some(format!("unreadable: {e}")),
            }
        }
        Expect::Symlink { target } if ft.is_symlink() => {
            let actual = std::fs::read_link(&path).ok()?;
            (&actual != target).then(|| {
                format!(
                    "points to {}, expected {}",
                    actual.display(),
                    target.display()
                )
            })
        }
        Expect::HardLink { target } => {
            let t = std::fs::symlink_metadata(root.join(target)).ok()?;
            (t.ino() != meta.ino()).then(|| format!("is not a hardlink of {}", target.display()))
        }
        Expect::Fifo if ft.is_fifo() => None,
        Expect::Whiteout if ft.is_char_device() && meta.rdev() == 0 => None,
        Expect::Skipped => Some("device node should not exist".into()),
        _ => Some(format!("wrong file type {ft:?}")),
    }
}

fn walk(root: &Path, rel: PathBuf, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(root.join(&rel)) else {
        return;
    };
    for e in rd.flatten() {
        let child = rel.join(e.file_name());
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        out.push(child.clone());
        if is_dir {
            walk(root, child, out);
        }
    }
}
