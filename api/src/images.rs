//! ListImages and InspectImage: the store's `images.json` (replaced
//! atomically, so read without its lock) and, for labels and annotations,
//! each image's config and manifest blobs, which are content-addressed and
//! so cached for as long as the image is listed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use rukt_images::store::{ImageRecord, Index, Store};
use rukt_pods::inspect::read_nofollow;
use rukt_proto::v1 as pb;
use tonic::Status;

/// What the blobs of one image say.
#[derive(Clone, Default)]
struct Blobs {
    labels: Vec<pb::KeyValue>,
    annotations: Vec<pb::KeyValue>,
    manifest: Vec<u8>,
}

/// The images of one store.
pub struct ImageCatalog {
    store: Store,
    index: PathBuf,
    /// By manifest digest.
    blobs: Mutex<HashMap<String, Blobs>>,
}

/// An image ID as a client may give it: `sha256:<hex>`, or hex alone.
pub fn check_image_id(id: &str) -> Result<(), Status> {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    if hex.is_empty() || hex.len() > 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Status::invalid_argument(format!(
            "{id:?} is not an image ID (sha256:<hex>, or a prefix)"
        )));
    }
    Ok(())
}

/// Whether the image ID `have` is named by `wanted` (whole or a prefix,
/// with or without `sha256:`).
pub fn id_matches(have: &str, wanted: &str) -> bool {
    let hex = |s: &str| s.strip_prefix("sha256:").unwrap_or(s).to_ascii_lowercase();
    hex(have).starts_with(&hex(wanted))
}

fn kv(map: Option<&serde_json::Map<String, serde_json::Value>>) -> Vec<pb::KeyValue> {
    map.into_iter()
        .flatten()
        .map(|(k, v)| pb::KeyValue {
            key: k.clone(),
            value: v.as_str().unwrap_or_default().to_string(),
        })
        .collect()
}

/// `docker.io/library/busybox:latest` → (`docker.io/library/busybox`, `latest`).
fn split_name(full: &str) -> (&str, &str) {
    if let Some((n, d)) = full.split_once('@') {
        return (n, d);
    }
    match full.rfind(':') {
        Some(i) if !full[i..].contains('/') => (&full[..i], &full[i + 1..]),
        _ => (full, ""),
    }
}

fn rfc3339_ns(s: &str) -> i64 {
    humantime::parse_rfc3339_weak(s)
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as i64)
}

fn check_filters(filters: &[pb::ImageFilter]) -> Result<(), Status> {
    for f in filters {
        f.ids.iter().try_for_each(|i| check_image_id(i))?;
        if f.labels
            .iter()
            .chain(&f.annotations)
            .any(|l| l.key.is_empty())
        {
            return Err(Status::invalid_argument(
                "a label or annotation filter has an empty key",
            ));
        }
        if f.imported_after < 0 || f.imported_before < 0 {
            return Err(Status::invalid_argument(
                "import times are ns since the epoch",
            ));
        }
        if f.imported_after != 0 && f.imported_before != 0 && f.imported_after >= f.imported_before
        {
            return Err(Status::invalid_argument(
                "imported_after is not before imported_before",
            ));
        }
    }
    Ok(())
}

fn has_all(have: &[pb::KeyValue], wanted: &[pb::KeyValue]) -> bool {
    wanted.iter().all(|w| have.contains(w))
}

fn matches(f: &pb::ImageFilter, i: &pb::Image) -> bool {
    let any = |v: &[String], hit: &dyn Fn(&str) -> bool| v.is_empty() || v.iter().any(|x| hit(x));
    any(&f.ids, &|x| id_matches(&i.id, x))
        && any(&f.prefixes, &|x| i.full_name.starts_with(x))
        && any(&f.base_names, &|x| i.name == x)
        && any(&f.keywords, &|x| i.full_name.contains(x))
        && any(&f.full_names, &|x| i.full_name == x)
        && has_all(&i.labels, &f.labels)
        && has_all(&i.annotations, &f.annotations)
        && (f.imported_after == 0 || i.import_timestamp > f.imported_after)
        && (f.imported_before == 0 || i.import_timestamp < f.imported_before)
}

impl ImageCatalog {
    /// The images of the store at `store_root`.
    pub fn new(store_root: &Path) -> ImageCatalog {
        ImageCatalog {
            store: Store::at(store_root),
            index: store_root.join("images.json"),
            blobs: Mutex::new(HashMap::new()),
        }
    }

    fn index(&self) -> Result<Index, Status> {
        Index::load(&self.index).map_err(|e| Status::internal(e.to_string()))
    }

    fn blobs(&self, r: &ImageRecord) -> Blobs {
        let key = r.manifest.to_string();
        if let Some(b) = self.blobs.lock().expect("blob cache poisoned").get(&key) {
            return b.clone();
        }
        let read = |d: &rukt_images::digest::Digest| read_nofollow(&self.store.blob_path(d)).ok();
        let json = |d: &Option<Vec<u8>>| {
            d.as_deref()
                .and_then(|d| serde_json::from_slice::<serde_json::Value>(d).ok())
                .unwrap_or_default()
        };
        let manifest = read(&r.manifest);
        let config = json(&read(&r.id));
        let b = Blobs {
            labels: kv(config["config"]["Labels"].as_object()),
            annotations: kv(json(&manifest)["annotations"].as_object()),
            manifest: manifest.unwrap_or_default(),
        };
        self.blobs
            .lock()
            .expect("blob cache poisoned")
            .insert(key, b.clone());
        b
    }

    fn to_proto(&self, r: &ImageRecord, detail: bool) -> pb::Image {
        let b = self.blobs(r);
        let (name, version) = split_name(&r.name);
        let kind = if r.manifest_media_type.contains("docker") {
            pb::ImageType::Docker
        } else {
            pb::ImageType::Oci
        };
        pb::Image {
            base_format: Some(pb::ImageFormat {
                r#type: kind as i32,
                version: r.manifest_media_type.clone(),
            }),
            id: r.id.to_string(),
            name: name.to_string(),
            version: version.to_string(),
            import_timestamp: rfc3339_ns(&r.fetched),
            manifest: if detail { b.manifest } else { Vec::new() },
            size: r.size as i64,
            annotations: b.annotations,
            labels: b.labels,
            manifest_digest: r.manifest.to_string(),
            full_name: r.name.clone(),
            layers: r.layers.iter().map(|l| l.blob.to_string()).collect(),
            compressed_size: r.layers.iter().map(|l| l.size as i64).sum(),
            platform: serde_json::to_value(&r.platform)
                .ok()
                .map(|v| {
                    ["os", "architecture", "variant"]
                        .iter()
                        .filter_map(|k| v[*k].as_str())
                        .collect::<Vec<_>>()
                        .join("/")
                })
                .unwrap_or_default(),
            last_used: rfc3339_ns(&r.last_used),
        }
    }

    /// Every image matching `filters` (OR'ed; none: all), by name.
    pub fn list(
        &self,
        filters: &[pb::ImageFilter],
        detail: bool,
    ) -> Result<Vec<pb::Image>, Status> {
        check_filters(filters)?;
        let index = self.index()?;
        let out: Vec<pb::Image> = index
            .images
            .values()
            .map(|r| self.to_proto(r, detail))
            .filter(|i| filters.is_empty() || filters.iter().any(|f| matches(f, i)))
            .collect();
        let live: std::collections::HashSet<String> = index
            .images
            .values()
            .map(|r| r.manifest.to_string())
            .collect();
        self.blobs
            .lock()
            .expect("blob cache poisoned")
            .retain(|k, _| live.contains(k));
        Ok(out)
    }

    /// One image by full name, ID or unique ID prefix, with its manifest.
    pub fn inspect(&self, id: &str) -> Result<pb::Image, Status> {
        if id.is_empty() {
            return Err(Status::invalid_argument("no image ID or name"));
        }
        let index = self.index()?;
        if let Some(r) = index.images.get(id) {
            return Ok(self.to_proto(r, true));
        }
        check_image_id(id)?;
        let hits: Vec<&ImageRecord> = index
            .images
            .values()
            .filter(|r| id_matches(&r.id.to_string(), id))
            .collect();
        let mut ids: Vec<String> = hits.iter().map(|r| r.id.to_string()).collect();
        ids.sort();
        ids.dedup();
        match ids.len() {
            0 => Err(Status::not_found(format!("no image {id:?}"))),
            1 => Ok(self.to_proto(hits[0], true)),
            _ => Err(Status::invalid_argument(format!(
                "{id:?} is ambiguous: it matches {}",
                ids.join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_into_name_and_version() {
        assert_eq!(
            split_name("docker.io/library/busybox:latest"),
            ("docker.io/library/busybox", "latest")
        );
        assert_eq!(split_name("localhost:5000/a/b"), ("localhost:5000/a/b", ""));
        assert_eq!(split_name("r/x@sha256:ab"), ("r/x", "sha256:ab"));
    }

    #[test]
    fn image_ids_match_with_or_without_algorithm() {
        assert!(id_matches("sha256:abcdef", "abc"));
        assert!(id_matches("sha256:abcdef", "sha256:abcd"));
        assert!(!id_matches("sha256:abcdef", "abd"));
        assert!(check_image_id("sha256:zz").is_err());
        assert!(check_image_id("").is_err());
    }
}
