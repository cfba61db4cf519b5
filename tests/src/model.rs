//! Reference model of layer flattening: applies the OCI rules (later entries replace earlier
//! ones, `.wh.NAME` deletes NAME of lower layers, `.wh..wh..opq` empties a directory of lower
//! layers' content, hard links share one inode) to the layers' entries and yields the
//! `tree::Tree` a correct unpacker must produce.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::digest::sha256;
use crate::image::{Kind, Layer};
use crate::tree::{self, Tree};

#[derive(Clone, Debug)]
struct Node {
    entry: tree::Entry,
    inode: usize,
}

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// The flattened rootfs of `layers` (which must all be built from entries, not raw tar).
pub fn flatten(layers: &[Layer]) -> Tree {
    let mut nodes: BTreeMap<PathBuf, Node> = BTreeMap::new();
    let mut next_inode = 0usize;
    for layer in layers {
        let entries = layer
            .entries()
            .expect("the model cannot flatten raw (hand-written) layers");
        // Whiteouts apply to the lower layers only, so they go first.
        for e in entries {
            let path = PathBuf::from(&e.path);
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let parent = path.parent().unwrap_or(Path::new("")).to_path_buf();
            if name == OPAQUE {
                nodes.retain(|p, _| !(p.starts_with(&parent) && *p != parent));
            } else if let Some(victim) = name.strip_prefix(WHITEOUT) {
                remove_tree(&mut nodes, &parent.join(victim));
            }
        }
        for e in entries {
            let path = PathBuf::from(&e.path);
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name.starts_with(WHITEOUT) {
                continue;
            }
            let mut entry = tree::Entry {
                kind: tree::Kind::File,
                mode: e.mode & 0o7777,
                uid: e.uid as u32,
                gid: e.gid as u32,
                size: 0,
                sha256: None,
                target: None,
                rdev: None,
                mtime: e.mtime as i64,
                hardlink: None,
                xattrs: BTreeMap::new(),
            };
            let inode = match &e.kind {
                Kind::Dir => {
                    entry.kind = tree::Kind::Dir;
                    if let Some(existing) = nodes.get_mut(&path)
                        && existing.entry.kind == tree::Kind::Dir
                    {
                        // An existing directory only gets the new metadata.
                        existing.entry = entry;
                        continue;
                    }
                    None
                }
                Kind::File(content) => {
                    entry.size = content.len() as u64;
                    entry.sha256 = Some(sha256(content));
                    None
                }
                Kind::Symlink(target) => {
                    entry.kind = tree::Kind::Symlink;
                    entry.mode = 0o777;
                    entry.target = Some(PathBuf::from(target));
                    None
                }
                Kind::Hardlink(target) => {
                    let source = nodes
                        .get(Path::new(target.trim_start_matches('/')))
                        .unwrap_or_else(|| panic!("hard link {} to missing {target}", e.path))
                        .clone();
                    entry = source.entry;
                    Some(source.inode)
                }
                Kind::Fifo => {
                    entry.kind = tree::Kind::Fifo;
                    None
                }
                Kind::CharDevice { major, minor } => {
                    entry.kind = tree::Kind::CharDevice;
                    entry.rdev = Some((u64::from(*major), u64::from(*minor)));
                    None
                }
            };
            let inode = inode.unwrap_or_else(|| {
                next_inode += 1;
                next_inode
            });
            remove_tree(&mut nodes, &path);
            nodes.insert(path, Node { entry, inode });
        }
    }

    let mut names: BTreeMap<usize, Vec<PathBuf>> = BTreeMap::new();
    for (path, node) in &nodes {
        if node.entry.kind != tree::Kind::Dir {
            names.entry(node.inode).or_default().push(path.clone());
        }
    }
    let mut out: Tree = nodes.into_iter().map(|(p, n)| (p, n.entry)).collect();
    for group in names.into_values().filter(|g| g.len() > 1) {
        let first = group[0].clone();
        for path in group {
            out.get_mut(&path).expect("grouped path").hardlink = Some(first.clone());
        }
    }
    out
}

fn remove_tree(nodes: &mut BTreeMap<PathBuf, Node>, path: &Path) {
    nodes.retain(|p, _| !p.starts_with(path));
}
