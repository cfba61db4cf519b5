//! The pod's events as an engine records them in the store's journal
//! (`rukt-events`): [`PodEvents`] knows the pod and where its store is (the
//! pod directory is `<store>/pods/run/<uuid>`, [`crate::store_of_pod`], and
//! every entrypoint runs in it), and records `app_started`, `pod_started`,
//! `app_exited` and `pod_exited`. Recording never fails the pod: a journal
//! that cannot be written is a warning.

use std::path::PathBuf;

use rukt_events::{Event, EventType};

use crate::PodManifest;

/// The events of one pod, for its engine.
#[derive(Debug, Clone)]
pub struct PodEvents {
    store: Option<PathBuf>,
    uuid: String,
    flavor: String,
    /// Each app's image, by app name.
    images: Vec<(String, String)>,
}

impl PodEvents {
    /// The events of `pod`, run by the engine `flavor`, in the store
    /// holding the working directory (the pod directory). Outside a store
    /// layout nothing is recorded.
    pub fn new(pod: &PodManifest, flavor: &str) -> PodEvents {
        let mut events = PodEvents::of_uuid(&pod.uuid, flavor);
        events.images = pod
            .apps
            .iter()
            .map(|a| (a.name.clone(), a.image.name.clone()))
            .collect();
        events
    }

    /// The events of pod `uuid` when its manifest is not at hand.
    pub fn of_uuid(uuid: &str, flavor: &str) -> PodEvents {
        let store = std::env::current_dir()
            .ok()
            .and_then(|d| crate::store_of_pod(&d).map(PathBuf::from));
        if store.is_none() {
            tracing::debug!("the pod directory is not in a store; recording no events");
        }
        PodEvents {
            store,
            uuid: uuid.to_string(),
            flavor: flavor.to_string(),
            images: Vec::new(),
        }
    }

    fn record(&self, event: Event) {
        if let Some(store) = &self.store {
            rukt_events::record(store, event.with_attr("stage1", &self.flavor));
        }
    }

    fn app_event(&self, kind: EventType, app: &str) -> Event {
        let e = Event::new(kind, &self.uuid).with_app(app);
        match self.images.iter().find(|(a, _)| a == app) {
            Some((_, image)) => e.with_image(image),
            None => e,
        }
    }

    /// `app` has started.
    pub fn app_started(&self, app: &str) {
        self.record(self.app_event(EventType::AppStarted, app));
    }

    /// Every app has started.
    pub fn pod_started(&self) {
        self.record(Event::new(EventType::PodStarted, &self.uuid));
    }

    /// `app` exited with `code` (128+N for signal N); `reason` is its
    /// `status/<app>.reason` (`oom-killed` sets `oom`).
    pub fn app_exited(&self, app: &str, code: u8, reason: Option<&str>) {
        let mut e = self
            .app_event(EventType::AppExited, app)
            .with_exit_code(i32::from(code))
            .with_oom(reason == Some("oom-killed"));
        if let Some(r) = reason {
            e = e.with_attr("reason", r);
        }
        self.record(e);
    }

    /// The pod is over with `code` ([`crate::EXIT_STAGE1_FAILURE`] when its
    /// stage1 failed, with the `error`).
    pub fn pod_exited(&self, code: u8, error: Option<&str>) {
        let mut e = Event::new(EventType::PodExited, &self.uuid).with_exit_code(i32::from(code));
        if let Some(err) = error {
            e = e.with_attr("error", err);
        }
        self.record(e);
    }
}
