//! The supervisor's loop once the apps run: reap them, record each app's
//! exit status (`status/<app>`, and `status/<app>.reason` = `oom-killed`
//! when the OOM killer ended it, and `app_exited` in the event journal),
//! pass SIGTERM/SIGINT/SIGHUP on to every
//! app, and end the pod when its apps are done; meanwhile log the apps'
//! output ([`crate::logs`], reopened on SIGUSR1).
//!
//! Policy, as in rkt: the pod runs until every app has exited. When an app
//! fails (non-zero exit or killed), the others are sent SIGTERM and, after
//! [`GRACE`], SIGKILL. The pod's exit code is that of the first app to
//! fail, or 0. When an app's main process exits, what it left behind in its
//! cgroup is killed.

use std::path::Path;
use std::time::{Duration, Instant};

use libcontainer::container::Container;
use rukt_contract::runtime::events::PodEvents;
use rukt_contract::runtime::write_atomic;
use rukt_contract::{PodManifest, exit_code_from_wait_status};

use crate::cgroups::{self, Layout};
use crate::console::Relay;
use crate::logs::Output;
use crate::notify::AppNotify;
use crate::signals::{self, Signals, Wake};

pub mod mutable;

/// How long apps get between SIGTERM and SIGKILL when the pod ends because
/// another app failed.
pub const GRACE: Duration = Duration::from_secs(10);

/// How long the apps run before the supervisor trims its memory
/// ([`crate::memory::shrink`], about 1 ms): a pod that is over sooner
/// never pays for it.
pub const SHRINK_AFTER: Duration = Duration::from_millis(100);

/// An app the supervisor started.
pub struct Running {
    /// Its name.
    pub name: String,
    /// Its init's PID.
    pub pid: i32,
    /// Its container.
    pub container: Container,
    /// Its wait status, once it exited.
    pub status: Option<i32>,
    /// When it gets SIGKILL (`app-stop`'s timeout).
    pub kill_at: Option<Instant>,
    /// What asks it to stop: its manifest's `stop_signal`, else SIGTERM.
    pub stop_signal: i32,
}

impl Running {
    /// `app`, created (or started) as `container`.
    pub fn new(app: &rukt_contract::App, container: Container) -> Running {
        let stop_signal = app
            .stop_signal
            .as_deref()
            .and_then(rukt_contract::signal::number)
            .unwrap_or(libc::SIGTERM);
        Running {
            name: app.name.clone(),
            pid: container.pid().map(|p| p.as_raw()).unwrap_or(-1),
            container,
            status: None,
            kill_at: None,
            stop_signal,
        }
    }
}

/// The supervisor of one pod.
pub struct Supervisor<'a> {
    pod: &'a PodManifest,
    status_dir: Option<std::fs::File>,
    layout: Layout,
    apps: Vec<Running>,
    first_failure: Option<u8>,
    kill_at: Option<Instant>,
    shrink_at: Option<Instant>,
    signals: Signals,
    relay: Option<Relay>,
    output: Output,
    notify: Option<AppNotify>,
    events: Option<PodEvents>,
    control: Option<mutable::Mutable>,
}

impl<'a> Supervisor<'a> {
    /// Supervises `apps` of `pod`, relaying the terminal of an interactive
    /// one.
    pub fn new(
        pod: &'a PodManifest,
        pod_dir: &Path,
        layout: Layout,
        apps: Vec<Running>,
        signals: Signals,
        relay: Option<Relay>,
    ) -> Self {
        let status_dir = std::fs::File::open(pod_dir.join(rukt_contract::STATUS_DIR))
            .inspect_err(|e| tracing::warn!("cannot open the status directory: {e}"))
            .ok();
        Supervisor {
            pod,
            status_dir,
            layout,
            apps,
            first_failure: None,
            kill_at: None,
            shrink_at: Some(Instant::now() + SHRINK_AFTER),
            signals,
            relay,
            output: Output::default(),
            notify: None,
            events: None,
            control: None,
        }
    }

    /// Makes the pod mutable: it takes `app-*` requests from `control`
    /// and runs until it is stopped.
    pub fn with_control(mut self, control: Option<mutable::Mutable>) -> Self {
        self.control = control;
        self
    }

    /// Whether the loop goes on: an app runs, or a mutable pod was not
    /// stopped.
    fn goes_on(&self) -> bool {
        self.apps.iter().any(|a| a.status.is_none())
            || self.control.as_ref().is_some_and(|m| !m.stopping)
    }

    /// Carries out what is due by the clock: the memory trim, the grace
    /// period's end, apps' own kill deadlines.
    fn run_due(&mut self) {
        // Nothing pending, no clock read: a logging loop makes no libc call
        // it need not (`crate::memory`).
        if self.next_due().is_none() {
            return;
        }
        let now = Instant::now();
        if self.shrink_at.is_some_and(|t| now >= t) {
            self.shrink_at = None;
            crate::memory::shrink();
        }
        if self.kill_at.is_some_and(|t| now >= t) {
            tracing::debug!("grace period over: killing the apps left");
            self.kill_at = None;
            self.signal_running(libc::SIGKILL);
        }
        for app in &mut self.apps {
            if app.status.is_none() && app.kill_at.is_some_and(|t| now >= t) {
                tracing::debug!(app = %app.name, "stop timeout over: killing it");
                app.kill_at = None;
                signals::send(app.pid, libc::SIGKILL);
            }
        }
    }

    /// The next deadline, if any.
    fn next_due(&self) -> Option<Instant> {
        self.kill_at
            .into_iter()
            .chain(self.shrink_at)
            .chain(
                self.apps
                    .iter()
                    .filter(|a| a.status.is_none())
                    .filter_map(|a| a.kill_at),
            )
            .min()
    }

    /// Relays the gating app's notifications from `notify`.
    pub fn with_notify(mut self, notify: Option<AppNotify>) -> Self {
        self.notify = notify;
        self
    }

    /// Records the apps' exits in the event journal.
    pub fn with_events(mut self, events: PodEvents) -> Self {
        self.events = Some(events);
        self
    }

    /// Logs the apps' output from `output`'s pipes.
    pub fn with_output(mut self, output: Output) -> Self {
        self.output = output;
        self
    }

    /// Runs until every app has exited; returns the pod's exit code.
    pub fn supervise(mut self) -> u8 {
        // An app may have exited before its SIGCHLD could be waited for.
        self.reap();
        while self.goes_on() {
            // Due by the clock, not only on a quiet wake-up: a pod whose apps
            // log without pause never lets the wait time out.
            self.run_due();
            let timeout = self
                .next_due()
                .map(|t| t.saturating_duration_since(Instant::now()));
            let mut fds = self.relay.as_ref().map(Relay::fds).unwrap_or_default();
            let relayed = fds.len();
            fds.extend(self.output.fds());
            let logged = fds.len();
            fds.extend(self.notify.as_ref().map(AppNotify::fd));
            let notified = fds.len();
            fds.extend(self.control.as_ref().map(mutable::Mutable::fd));
            let wake = self.signals.wait(timeout, &fds);
            drop(fds);
            match wake {
                Wake::Child => self.reap(),
                Wake::Resize => {
                    if let Some(r) = &self.relay {
                        r.resize();
                    }
                }
                Wake::Ready(i) if i >= notified => self.control_ready(),
                // When the app closes its terminal, its exit follows.
                Wake::Ready(i) if i >= logged => self.notify.iter().for_each(AppNotify::ready),
                Wake::Ready(i) if i >= relayed => self.output.ready(i - relayed),
                Wake::Ready(i) => Relay::on_ready(&mut self.relay, i),
                Wake::Reopen => self.output.reopen(),
                Wake::Forward(sig) => {
                    tracing::debug!(signal = sig, "forwarding to the apps");
                    rukt_contract::sdnotify::pod_stopping();
                    self.stop_mutable();
                    if sig == libc::SIGTERM {
                        // `rukt stop`, or the unit's: each app its own stop signal.
                        self.ask_running_to_stop();
                    } else {
                        self.signal_running(sig);
                    }
                }
                Wake::Timeout => {}
            }
        }
        if let Some(mut r) = self.relay.take() {
            r.drain();
        }
        self.output.drain();
        rukt_contract::sdnotify::pod_stopping();
        // No libcontainer delete: it would probe every cgroup controller
        // again (milliseconds) to remove what `destroy_pod` removes next, and
        // its state goes with the pod directory.
        self.first_failure.unwrap_or(0)
    }

    fn signal_running(&self, sig: i32) {
        for app in self.apps.iter().filter(|a| a.status.is_none()) {
            signals::send(app.pid, sig);
        }
    }

    /// Sends every running app its stop signal.
    fn ask_running_to_stop(&self) {
        for app in self.apps.iter().filter(|a| a.status.is_none()) {
            signals::send(app.pid, app.stop_signal);
        }
    }

    /// Collects every exited child; apps get their status recorded.
    fn reap(&mut self) {
        loop {
            let mut status = 0;
            // SAFETY: waitpid writes the status into our local.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
            if pid <= 0 {
                return;
            }
            if let Some(i) = self.apps.iter().position(|a| a.pid == pid) {
                self.exited(i, status);
            }
        }
    }

    fn exited(&mut self, i: usize, status: i32) {
        let code = exit_code_from_wait_status(status);
        let app_cgroup = cgroups::app_path(&self.pod.uuid, &self.apps[i].name);
        let killed = libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL;
        let oom = killed
            && (cgroups::oom_kills(self.layout, &app_cgroup) > 0
                || cgroups::oom_kills(self.layout, &cgroups::pod_path(&self.pod.uuid)) > 0);
        let app = &mut self.apps[i];
        app.status = Some(status);
        tracing::debug!(app = %app.name, code, oom, "app exited");
        // What the app's main process left behind goes with it.
        for pid in cgroups::pids(self.layout, &app_cgroup) {
            signals::send(pid, libc::SIGKILL);
        }
        if let Some(dir) = &self.status_dir {
            let name = app.name.clone();
            if oom {
                let _ = write_atomic(dir, &format!("{name}.reason"), b"oom-killed");
            }
            if let Err(e) = write_atomic(dir, &name, code.to_string().as_bytes()) {
                tracing::warn!("cannot record the exit status of app {name}: {e}");
            }
        }
        if let Some(events) = &self.events {
            events.app_exited(&app.name, code, oom.then_some("oom-killed"));
        }
        if self.control.is_some() {
            // A mutable pod's apps end on their own.
            let name = app.name.clone();
            self.answer_waiters(&name);
            return;
        }
        if code != 0 && self.first_failure.is_none() {
            self.first_failure = Some(code);
            if self.apps.iter().any(|a| a.status.is_none()) {
                tracing::debug!("an app failed: stopping the others");
                rukt_contract::sdnotify::pod_stopping();
                self.ask_running_to_stop();
                self.kill_at = Some(Instant::now() + GRACE);
            }
        }
    }
}
