//! `image export`: write a stored image as an OCI image layout directory
//! (`oci:DIR[:TAG]`) or a tar of one (`oci-archive:FILE[:TAG]`), blobs
//! byte for byte as fetched, so the image ID is kept on re-import.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::media;
use crate::reference::ImageRef;
use crate::source::layout::REF_NAME;
use crate::store::{ImageRecord, Store};

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Only OCI layouts and archives can be written.
    #[error("cannot export to {0:?}: use oci:DIR[:TAG] or oci-archive:FILE[:TAG]")]
    Destination(String),
    /// Writing failed.
    #[error("cannot write {path}")]
    Io {
        /// Where.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// Exports `rec` to `destination` (`oci:` or `oci-archive:`).
pub fn export(store: &Store, rec: &ImageRecord, destination: &str) -> Result<(), ExportError> {
    let dest = ImageRef::parse(destination)
        .map_err(|_| ExportError::Destination(destination.to_string()))?;
    let default_tag = || {
        rec.name
            .rsplit_once(':')
            .map(|(_, t)| t)
            .filter(|t| !t.contains('/'))
            .unwrap_or("latest")
            .to_string()
    };
    match dest {
        ImageRef::OciLayout { path, tag } => {
            write_layout(store, rec, &path, &tag.unwrap_or_else(default_tag))
        }
        ImageRef::OciArchive { path, tag } => {
            write_archive(store, rec, &path, &tag.unwrap_or_else(default_tag))
        }
        _ => Err(ExportError::Destination(destination.to_string())),
    }
}

fn index_json(
    rec: &ImageRecord,
    store: &Store,
    tag: &str,
    existing: Option<&[u8]>,
) -> io::Result<Vec<u8>> {
    let size = std::fs::metadata(store.blob_path(&rec.manifest))?.len();
    let entry = serde_json::json!({
        "mediaType": rec.manifest_media_type,
        "digest": rec.manifest.to_string(),
        "size": size,
        "annotations": {REF_NAME: tag},
    });
    let mut manifests: Vec<serde_json::Value> = existing
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .and_then(|v| v.get("manifests").and_then(|m| m.as_array().cloned()))
        .unwrap_or_default();
    manifests.retain(|m| {
        m.pointer(&format!("/annotations/{}", REF_NAME.replace('/', "~1")))
            .and_then(|v| v.as_str())
            != Some(tag)
    });
    manifests.push(entry);
    serde_json::to_vec_pretty(&serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests}))
        .map_err(io::Error::other)
}

const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

fn write_layout(
    store: &Store,
    rec: &ImageRecord,
    dir: &Path,
    tag: &str,
) -> Result<(), ExportError> {
    let ioe = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ExportError::Io { path, source }
    };
    for d in rec.blobs() {
        let target_dir = dir.join("blobs").join(d.algorithm().name());
        std::fs::create_dir_all(&target_dir).map_err(ioe(&target_dir))?;
        let target = target_dir.join(d.hex());
        if !target.exists() {
            std::fs::copy(store.blob_path(d), &target).map_err(ioe(&target))?;
        }
    }
    let layout = dir.join("oci-layout");
    std::fs::write(&layout, OCI_LAYOUT).map_err(ioe(&layout))?;
    let index_path = dir.join("index.json");
    let existing = std::fs::read(&index_path).ok();
    let index = index_json(rec, store, tag, existing.as_deref()).map_err(ioe(&index_path))?;
    crate::store::fsutil::write_atomic(&index_path, &index).map_err(ioe(&index_path))
}

fn write_archive(
    store: &Store,
    rec: &ImageRecord,
    file: &Path,
    tag: &str,
) -> Result<(), ExportError> {
    let ioe = |source| ExportError::Io {
        path: file.to_path_buf(),
        source,
    };
    let tmp = file.with_extension("rukt-tmp");
    let out = File::create(&tmp).map_err(ioe)?;
    let mut tar = tar::Builder::new(out);
    let mut add = |name: &str, data: &[u8]| -> io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, data)
    };
    add("oci-layout", OCI_LAYOUT).map_err(ioe)?;
    add(
        "index.json",
        &index_json(rec, store, tag, None).map_err(ioe)?,
    )
    .map_err(ioe)?;
    let mut seen = std::collections::HashSet::new();
    for d in rec.blobs() {
        if seen.insert(d.clone()) {
            let name = format!("blobs/{}/{}", d.algorithm().name(), d.hex());
            let mut f = File::open(store.blob_path(d)).map_err(ioe)?;
            tar.append_file(&name, &mut f).map_err(ioe)?;
        }
    }
    let out = tar.into_inner().map_err(ioe)?;
    out.sync_all().map_err(ioe)?;
    std::fs::rename(&tmp, file).map_err(ioe)
}
