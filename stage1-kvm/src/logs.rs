//! The apps' log files of a kvm pod: the guest init already sends each
//! app's stdout and stderr to the supervisor as frames; the supervisor
//! appends each frame to `logs/<app>.log` (the same CRI entries and
//! rotation as nspawn's, `rukt_contract::runtime::applog`) besides copying
//! it to its own stdout or stderr.

use std::path::Path;

use rukt_contract::logfmt::{LogOptions, Stream};
use rukt_contract::runtime::applog::AppLog;

/// One log per app, in manifest order (then in the order a mutable pod's
/// apps were added) (`None` where it could not be opened).
#[derive(Debug, Default)]
pub struct Logs(Vec<Option<AppLog>>);

impl Logs {
    /// Opens the logs of `apps` in the pod directory `pod_dir`.
    pub fn open(pod_dir: &Path, apps: &[String], options: LogOptions) -> Logs {
        Logs(
            apps.iter()
                .map(|a| {
                    AppLog::open(pod_dir, a, options)
                        .inspect_err(|e| tracing::warn!("app {a}: cannot open its log file: {e}"))
                        .ok()
                })
                .collect(),
        )
    }

    /// Reopens every log file (`SIGUSR1`: after an outside rotation).
    pub fn reopen(&mut self) {
        self.0.iter_mut().flatten().for_each(AppLog::reopen);
    }

    /// Adds the log of the next app (a mutable pod's added app).
    pub fn push(&mut self, log: Option<AppLog>) {
        self.0.push(log);
    }

    /// Closes the log of app `index` (removed from a mutable pod).
    pub fn close(&mut self, index: usize) {
        if let Some(slot) = self.0.get_mut(index) {
            *slot = None;
        }
    }

    /// Appends output of app `index`.
    pub fn record(&mut self, index: usize, stream: Stream, data: &[u8]) {
        if let Some(Some(log)) = self.0.get_mut(index) {
            log.record(stream, data);
        }
    }
}
