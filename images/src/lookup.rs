//! Finding stored images by what the user typed: a name (normalised the
//! way `fetch` names it), an image ID or a unique ID prefix, or a manifest
//! digest.

use crate::reference::ImageRef;
use crate::store::{ImageRecord, Index};

/// Shortest ID prefix accepted, to keep prefixes from matching by accident.
pub const MIN_PREFIX: usize = 4;

/// Why a lookup found nothing usable.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// No name, ID or prefix matches.
    #[error("no image {0:?} in the store")]
    Unknown(String),
    /// A prefix matches several images.
    #[error("{input:?} is ambiguous: it matches {}", matches.join(", "))]
    Ambiguous {
        /// What was typed.
        input: String,
        /// The names it matches.
        matches: Vec<String>,
    },
}

/// The records `input` names: one name, or every name of one image ID.
pub fn find<'a>(index: &'a Index, input: &str) -> Result<Vec<&'a ImageRecord>, LookupError> {
    if let Some(r) = index.images.get(input) {
        return Ok(vec![r]);
    }
    if let Ok(image) = ImageRef::parse(input)
        && let Some(name) = image.store_name()
        && let Some(r) = index.images.get(&name)
    {
        return Ok(vec![r]);
    }
    let hex = input.strip_prefix("sha256:").unwrap_or(input);
    if hex.len() >= MIN_PREFIX && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        let by_id: Vec<_> = index
            .images
            .values()
            .filter(|r| r.id.hex().starts_with(hex))
            .collect();
        let ids: std::collections::BTreeSet<_> = by_id.iter().map(|r| &r.id).collect();
        if ids.len() > 1 {
            return Err(LookupError::Ambiguous {
                input: input.to_string(),
                matches: by_id
                    .iter()
                    .map(|r| format!("{} ({})", r.name, r.id.short()))
                    .collect(),
            });
        }
        if !by_id.is_empty() {
            return Ok(by_id);
        }
        let by_manifest: Vec<_> = index
            .images
            .values()
            .filter(|r| r.manifest.hex() == hex)
            .collect();
        if !by_manifest.is_empty() {
            return Ok(by_manifest);
        }
    }
    Err(LookupError::Unknown(input.to_string()))
}

/// Exactly one record: for commands that act on one image.
pub fn find_one<'a>(index: &'a Index, input: &str) -> Result<&'a ImageRecord, LookupError> {
    let found = find(index, input)?;
    Ok(found[0])
}
