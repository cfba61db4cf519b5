//! sd_notify while `rukt run` fetches: a unit's `TimeoutStartSec` counts
//! from the exec, and a slow pull must not be killed by it. Each layer
//! started or finished, and at most once a second while bytes arrive, the
//! service manager gets `STATUS=` with the progress and
//! `EXTEND_TIMEOUT_USEC=` (another [`EXTEND`] from now; systemd honours it
//! only past the configured timeout). Nothing when `NOTIFY_SOCKET` is unset
//! or the pod said `--sd-notify=ignore`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rukt_contract::sdnotify::Notifier;
use rukt_images::digest::Digest;
use rukt_images::fetch::{LayerFate, Progress};

/// How much more time each message asks for: longer than any gap between
/// two messages while a fetch makes progress (a stall ends it sooner).
const EXTEND: Duration = Duration::from_secs(90);
/// The longest silence while bytes arrive.
const EVERY: Duration = Duration::from_secs(1);

/// A [`Progress`] that also tells the service manager.
pub struct Fetching<'a> {
    inner: &'a dyn Progress,
    notifier: Notifier,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    started: u32,
    finished: u32,
    bytes: u64,
    last: Option<Instant>,
}

impl<'a> Fetching<'a> {
    /// `inner`, reporting to the service manager too if it listens and
    /// `enabled`; says it started fetching.
    pub fn wrap(inner: &'a dyn Progress, enabled: bool) -> Option<Fetching<'a>> {
        let notifier = Notifier::from_env().filter(|_| enabled)?;
        let f = Fetching {
            inner,
            notifier,
            state: Mutex::new(State::default()),
        };
        f.send("STATUS=fetching images");
        Some(f)
    }

    /// Says the fetch is over and the pod starts.
    pub fn done(&self) {
        self.send("STATUS=starting the pod");
    }

    fn send(&self, status: &str) {
        let msg = format!("{status}\nEXTEND_TIMEOUT_USEC={}", EXTEND.as_micros());
        if let Err(e) = self.notifier.send(&msg) {
            tracing::debug!("cannot notify the service manager: {e}");
        }
    }

    fn update(&self, force: bool, change: impl FnOnce(&mut State)) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        change(&mut s);
        if !force && s.last.is_some_and(|t| t.elapsed() < EVERY) {
            return;
        }
        s.last = Some(Instant::now());
        let status = format!(
            "STATUS=fetching images: {} of {} layers, {} MiB",
            s.finished,
            s.started,
            s.bytes >> 20
        );
        drop(s);
        self.send(&status);
    }
}

impl Progress for Fetching<'_> {
    fn layer_started(&self, blob: &Digest, size: u64) {
        self.inner.layer_started(blob, size);
        self.update(true, |s| s.started += 1);
    }
    fn layer_advanced(&self, blob: &Digest, bytes: u64) {
        self.inner.layer_advanced(blob, bytes);
        self.update(false, |s| s.bytes += bytes);
    }
    fn layer_retried(&self, blob: &Digest, from: u64) {
        self.inner.layer_retried(blob, from);
    }
    fn layer_finished(&self, blob: &Digest, fate: LayerFate) {
        self.inner.layer_finished(blob, fate);
        self.update(true, |s| s.finished += 1);
    }
}
