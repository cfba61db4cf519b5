//! The image events of the store's event journal (`rukt-events`):
//! `image_imported` once a fetch has stored an image's record,
//! `image_removed` once a name is gone (`image rm`, `image gc`). Recording
//! never fails the command: a journal that cannot be written is a warning.

use rukt_events::{Event, EventType};

use crate::store::{ImageRecord, Store};

fn event(kind: EventType, rec: &ImageRecord) -> Event {
    Event::new(kind, rec.id.to_string()).with_name(&rec.name)
}

/// `rec` was stored.
pub(crate) fn imported(store: &Store, rec: &ImageRecord) {
    let e = event(EventType::ImageImported, rec).with_attr("source", &rec.source);
    rukt_events::record(store.root(), e);
}

/// `rec`'s name was removed, by `by` (`image rm`, `image gc`).
pub fn removed(store: &Store, rec: &ImageRecord, by: &str) {
    let e = event(EventType::ImageRemoved, rec).with_attr("by", by);
    rukt_events::record(store.root(), e);
}
