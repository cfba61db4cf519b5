//! The supervisor's half of mutable pods: the requests of the `app-*`
//! entrypoints ([`crate::control`]), carried out in the supervisor's one
//! loop. An added app is created with the pod's namespaces, cgroup, `/etc`
//! files and log like the first ones ([`crate::create::PodEnv`]) and waits
//! for its start; a stopped app gets SIGTERM, then SIGKILL at its own
//! deadline, and its `app-stop` is answered once it has been reaped and its
//! status recorded; a removed app's container, status and log go. The pod
//! itself runs until it is stopped, whatever its apps do.

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rukt_contract::PodManifest;
use rukt_contract::runtime::{load_manifest, write_atomic};

use super::{Running, Supervisor};
use crate::apps;
use crate::control::{Control, Request, answer};
use crate::create::{Extras, PodEnv};
use crate::{signals, warm};

/// A mutable pod's state beyond its running apps.
pub struct Mutable {
    control: Control,
    env: PodEnv,
    /// Apps added and not started yet, with their waiting inits.
    created: Vec<Running>,
    /// `app-stop` requests waiting for their app's exit.
    waiters: Vec<(String, UnixStream)>,
    /// The pod is being stopped: no more changes.
    pub(super) stopping: bool,
}

impl Mutable {
    /// The mutable pod listening on `control`, whose apps are created in
    /// `env`.
    pub fn new(control: Control, env: PodEnv) -> Mutable {
        Mutable {
            control,
            env,
            created: Vec::new(),
            waiters: Vec::new(),
            stopping: false,
        }
    }

    /// The control socket, to poll.
    pub(super) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.control.fd()
    }
}

impl Supervisor<'_> {
    /// Takes one request from the control socket and carries it out (or
    /// parks it, for `stop`).
    pub(super) fn control_ready(&mut self) {
        let Some((stream, req)) = self.control.as_ref().and_then(|m| m.control.accept()) else {
            return;
        };
        tracing::debug!(?req, "control request");
        if self.control.as_ref().is_some_and(|m| m.stopping) {
            answer(stream, Err("the pod is stopping".into()));
            return;
        }
        let outcome = match req {
            Request::Add { app } => self.add(&app),
            Request::Start { app } => self.start(&app),
            Request::Rm { app } => self.rm(&app),
            Request::Update { app } => self.update(&app),
            Request::Stop {
                app,
                force,
                timeout_secs,
            } => match self.stop(&app, force, Duration::from_secs(timeout_secs)) {
                Ok(true) => {
                    if let Some(m) = &mut self.control {
                        m.waiters.push((app, stream));
                    }
                    return;
                }
                Ok(false) => Ok(()),
                Err(e) => Err(e),
            },
        };
        answer(stream, outcome);
    }

    fn known(&self, app: &str) -> bool {
        self.apps.iter().any(|a| a.name == app)
            || self
                .control
                .as_ref()
                .is_some_and(|m| m.created.iter().any(|c| c.name == app))
    }

    fn add(&mut self, name: &str) -> Result<(), String> {
        if self.known(name) {
            return Err(format!("the pod already has an app {name:?}"));
        }
        let manifest: PodManifest = load_manifest(&self.pod.uuid).map_err(|e| e.to_string())?;
        let app = manifest
            .app(name)
            .ok_or_else(|| format!("the pod's manifest has no app {name:?}"))?
            .clone();
        let Some(m) = &mut self.control else {
            return Err("the pod is not mutable".into());
        };
        let warm =
            warm::prepare(self.layout, &manifest, [&app], None).map_err(|e| format!("{e:#}"))?;
        let container = m
            .env
            .create(
                &manifest,
                &app,
                Some(&mut self.output),
                Extras {
                    attach: true,
                    ..Extras::default()
                },
            )
            .map_err(|e| format!("{e:#}"));
        drop(warm);
        m.created.push(Running::new(&app, container?));
        Ok(())
    }

    fn start(&mut self, name: &str) -> Result<(), String> {
        let m = self.control.as_mut().ok_or("the pod is not mutable")?;
        let Some(i) = m.created.iter().position(|c| c.name == name) else {
            return Err(match self.apps.iter().find(|a| a.name == name) {
                Some(a) if a.status.is_none() => format!("app {name} is already running"),
                Some(_) => format!("app {name} has exited; remove it and add it again"),
                None => format!("the pod has no app {name:?}"),
            });
        };
        let mut app = m.created.remove(i);
        if let Err(e) = app.container.start() {
            apps::delete(app.container);
            return Err(format!("cannot start app {}: {e}", app.name));
        }
        if let Some(dir) = &self.status_dir {
            let _ = write_atomic(dir, &format!("{}.started", app.name), b"");
        }
        app.pid = app.container.pid().map(|p| p.as_raw()).unwrap_or(-1);
        if let Some(events) = &self.events {
            events.app_started(&app.name);
        }
        self.apps.push(app);
        Ok(())
    }

    /// Ok(true): the app is being stopped and the answer waits for its
    /// exit; Ok(false): it is not running (nothing to wait for).
    fn stop(&mut self, name: &str, force: bool, timeout: Duration) -> Result<bool, String> {
        let m = self.control.as_mut().ok_or("the pod is not mutable")?;
        if let Some(i) = m.created.iter().position(|c| c.name == name) {
            // Never started: its waiting init is killed and reaped as an app.
            self.apps.push(killed(m.created.remove(i)));
            return Ok(true);
        }
        let Some(app) = self.apps.iter_mut().find(|a| a.name == name) else {
            return Err(format!("the pod has no app {name:?}"));
        };
        if app.status.is_some() {
            return Ok(false);
        }
        let now = Instant::now();
        if force || timeout.is_zero() {
            signals::send(app.pid, libc::SIGKILL);
        } else {
            signals::send(app.pid, app.stop_signal);
            app.kill_at = Some(app.kill_at.map_or(now + timeout, |t| t.min(now + timeout)));
        }
        Ok(true)
    }

    fn update(&mut self, name: &str) -> Result<(), String> {
        if !self.known(name) {
            return Err(format!("the pod has no app {name:?}"));
        }
        let manifest: PodManifest = load_manifest(&self.pod.uuid).map_err(|e| e.to_string())?;
        let app = manifest
            .app(name)
            .ok_or_else(|| format!("the pod's manifest has no app {name:?}"))?;
        crate::cgroups::update_app(self.layout, &self.pod.uuid, name, &app.resources)
            .map_err(|e| format!("{:#}", anyhow::Error::from(e)))
    }

    fn rm(&mut self, name: &str) -> Result<(), String> {
        let m = self.control.as_mut().ok_or("the pod is not mutable")?;
        let container = if let Some(i) = m.created.iter().position(|c| c.name == name) {
            m.created.remove(i).container
        } else {
            match self.apps.iter().position(|a| a.name == name) {
                Some(i) if self.apps[i].status.is_none() => {
                    return Err(format!("app {name} is running; stop it first"));
                }
                Some(i) => self.apps.remove(i).container,
                None => return Ok(()),
            }
        };
        apps::delete(container);
        let pod_dir = self.env_dir();
        self.output.remove(&pod_dir, name);
        if let Some(dir) = &self.status_dir {
            for file in [
                name.to_string(),
                format!("{name}.reason"),
                format!("{name}.started"),
            ] {
                let _ = rustix::fs::unlinkat(dir, file.as_str(), rustix::fs::AtFlags::empty());
            }
        }
        let bundle = apps::bundle(&self.env_dir(), name);
        let _ = std::fs::remove_dir_all(bundle);
        Ok(())
    }

    fn env_dir(&self) -> std::path::PathBuf {
        self.control
            .as_ref()
            .map(|m| m.env.pod_dir.clone())
            .unwrap_or_default()
    }

    /// Answers the `app-stop` requests waiting for `app`, which exited.
    pub(super) fn answer_waiters(&mut self, app: &str) {
        let Some(m) = &mut self.control else { return };
        let (done, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut m.waiters)
            .into_iter()
            .partition(|(n, _)| n == app);
        m.waiters = rest;
        for (_, stream) in done {
            answer(stream, Ok(()));
        }
    }

    /// The pod is stopping: apps added and never started are killed (and
    /// reaped as apps).
    pub(super) fn stop_mutable(&mut self) {
        let Some(m) = &mut self.control else { return };
        m.stopping = true;
        let created = std::mem::take(&mut m.created);
        self.apps.extend(created.into_iter().map(killed));
    }
}

/// An app added and never started, its waiting init sent SIGKILL: reaped
/// and recorded as any app (exit 137).
fn killed(app: Running) -> Running {
    signals::send(app.pid, libc::SIGKILL);
    app
}
