//! The pod events stage0 records in the store's event journal
//! (`rukt-events`): `pod_prepared` once the pod directory and its manifest
//! exist, `pod_prepare_aborted` when preparing fails after the pod had its
//! UUID (nothing is left of it), `pod_garbage_collected` once gc or `rm`
//! removed it. The engines record the rest (`rukt_contract::runtime::events`).
//! Recording never fails a pod or a command: a failure is a warning.

use std::path::Path;

use rukt_contract::PodManifest;
use rukt_events::{Event, EventType};

/// `manifest`'s pod was prepared.
pub(crate) fn prepared(store: &Path, manifest: &PodManifest) {
    let apps: Vec<&str> = manifest.apps.iter().map(|a| a.name.as_str()).collect();
    let mut e = Event::new(EventType::PodPrepared, &manifest.uuid)
        .with_attr("stage1", &manifest.stage1.flavor)
        .with_attr("apps", apps.join(","));
    if let [app] = &manifest.apps[..] {
        e = e.with_image(&app.image.name);
    }
    rukt_events::record(store, e);
}

/// Preparing pod `uuid` failed because of `error`; nothing is left.
pub fn prepare_aborted(store: &Path, uuid: &str, error: &dyn std::error::Error) {
    let mut why = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        why.push_str(": ");
        why.push_str(&c.to_string());
        cause = c.source();
    }
    let e = Event::new(EventType::PodPrepareAborted, uuid).with_attr("error", why);
    rukt_events::record(store, e);
}

/// Pod `uuid`'s directory was removed.
pub(crate) fn garbage_collected(store: &Path, uuid: &str) {
    rukt_events::record(store, Event::new(EventType::PodGarbageCollected, uuid));
}
