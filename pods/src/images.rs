//! What pods use from the image store, read back from their manifests: the
//! layers an app's root is made of, what `image gc` must keep, and the policy
//! for `image rm` (an image a running pod uses is not removed).

use std::collections::HashMap;
use std::path::PathBuf;

use rukt_contract::App;
use rukt_images::digest::Digest;
use rukt_images::gc::InUse;
use rukt_images::lookup::{self, LookupError};
use rukt_images::store::{Store, StoreError};

use crate::id::PodUuid;
use crate::pod::Pods;
use crate::state::{Dir, State};

/// The digests an app's manifest entry names, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppImage {
    /// The image ID (config digest).
    pub id: Option<Digest>,
    /// The image manifest's digest.
    pub manifest: Option<Digest>,
    /// The layers' diff_ids, bottom first.
    pub layers: Vec<Digest>,
}

impl AppImage {
    /// Reads the digests of `app`; one that does not parse is left out (a
    /// hand-edited or corrupt manifest protects nothing, and mounts nothing).
    pub fn of(app: &App) -> AppImage {
        let parse = |s: &str| s.parse::<Digest>().ok();
        AppImage {
            id: parse(&app.image.id),
            manifest: parse(&app.image.manifest),
            layers: app.image.layers.iter().filter_map(|l| parse(l)).collect(),
        }
    }

    /// The layer directories of the app's root, top first, for mounting.
    pub fn lowers(&self, store: &Store) -> Vec<PathBuf> {
        self.layers
            .iter()
            .rev()
            .map(|d| store.layer_rootfs(d))
            .collect()
    }
}

/// What every pod on disk uses from the image store (for `image gc`).
pub fn images_in_use(pods: &Pods) -> InUse {
    let mut used = InUse::default();
    for pod in pods.all().unwrap_or_default() {
        let Ok(m) = pod.manifest() else { continue };
        for image in m.apps.iter().map(AppImage::of) {
            if let Some(id) = image.id {
                used.images.insert(id.clone());
                used.blobs.insert(id);
            }
            used.blobs.extend(image.manifest);
            used.layers.extend(image.layers);
        }
    }
    used
}

/// Image ID → a running pod that uses it.
pub fn images_of_running_pods(pods: &Pods) -> HashMap<Digest, PodUuid> {
    let mut out = HashMap::new();
    for pod in pods.all().unwrap_or_default() {
        if pod.dir != Dir::Run || pod.state() != State::Running {
            continue;
        }
        let Ok(m) = pod.manifest() else { continue };
        for id in m.apps.iter().filter_map(|a| AppImage::of(a).id) {
            out.insert(id, pod.uuid);
        }
    }
    out
}

/// Why `image rm` removed nothing.
#[derive(Debug, thiserror::Error)]
pub enum RemoveImageError {
    /// A name matches no image, or several.
    #[error(transparent)]
    Lookup(#[from] LookupError),
    /// A running pod uses the image.
    #[error("image {image} is used by running pod {pod}; stop it first")]
    InUse {
        /// The image's name.
        image: String,
        /// The pod.
        pod: PodUuid,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `rukt image rm`: removes the names of the images `inputs` match, unless a
/// running pod uses one of them. Everything is resolved first, so one bad
/// input removes nothing. Returns the names removed; `image gc` frees the
/// content later.
pub fn remove_images(
    store: &Store,
    pods: &Pods,
    inputs: &[String],
) -> Result<Vec<String>, RemoveImageError> {
    let running = images_of_running_pods(pods);
    let removed = store.update_index(|idx| {
        let mut records = Vec::new();
        for input in inputs {
            for r in lookup::find(idx, input)? {
                if let Some(pod) = running.get(&r.id) {
                    return Err(RemoveImageError::InUse {
                        image: r.name.clone(),
                        pod: *pod,
                    });
                }
                records.push(r.clone());
            }
        }
        for r in &records {
            idx.images.remove(&r.name);
        }
        Ok(records)
    })??;
    removed
        .iter()
        .for_each(|r| rukt_images::events::removed(store, r, "image rm"));
    Ok(removed.into_iter().map(|r| r.name).collect())
}
