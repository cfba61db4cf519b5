//! The guest's half of mutable pods: the host's `AppAdd`, `AppStart`,
//! `AppStop`, `AppRm` and `AppUpdate` frames, carried out in the init's one
//! loop. An added app gets its root (`mutable/<id>` in the share, bound
//! there by the host) prepared as a first app's is, and its cgroup; a
//! started one runs like any app; a stopped one gets SIGTERM, then SIGKILL
//! at its own deadline, and its `Reply` follows its `Exit`; a removed one's
//! mounts are detached and its cgroup removed.

use std::time::{Duration, Instant};

use rukt_contract::Resources;
use rukt_kvm_init::proto::{Frame, GuestApp, Kind, exit_payload, parse_stop};
use rustix::process::Signal;

use super::Guest;
use crate::{approot, limits, spawn};

/// Exit code of an added app stopped before it started, as if killed.
const KILLED: u8 = 128 + 9;

impl Guest {
    /// Carries out a request about app `frame.id`; its answer, or `None`
    /// when the answer waits for the app's exit.
    pub(super) fn app_request(&mut self, frame: &Frame) -> Option<Result<(), String>> {
        let id = frame.id;
        if self.stopping {
            return Some(Err("the pod is stopping".into()));
        }
        if frame.kind == Kind::AppAdd {
            return Some(self.add_app(id, &frame.payload));
        }
        // An added app, or one the pod booted with.
        let name = (self.added.get(&id).map(|a| &a.app))
            .or_else(|| self.pod.apps.get(id as usize))
            .map(|a| a.name.clone());
        let Some(name) = name else {
            // Never added (or removed already): nothing to forget.
            return Some(match frame.kind {
                Kind::AppRm => Ok(()),
                _ => Err(format!("the pod has no app {id}")),
            });
        };
        Some(match frame.kind {
            Kind::AppStart => self.start_app(id, &name),
            Kind::AppStop => return self.stop_app(id, parse_stop(&frame.payload, 10)),
            Kind::AppRm => self.rm_app(id, &name),
            Kind::AppUpdate => serde_json::from_slice::<Resources>(&frame.payload)
                .map_err(|e| format!("invalid resources: {e}"))
                .and_then(|r| {
                    limits::apply(&name, &r, true)
                        .map_err(|e| format!("cannot apply app {name}'s resources: {e}"))
                }),
            _ => Err("not an app request".into()),
        })
    }

    fn add_app(&mut self, id: u32, payload: &[u8]) -> Result<(), String> {
        if self.added.contains_key(&id) || self.procs.contains_key(&id) {
            return Err(format!("app {id} exists already"));
        }
        let add: GuestApp =
            serde_json::from_slice(payload).map_err(|e| format!("invalid app: {e}"))?;
        for v in &add.volumes {
            if !self.pod.volumes.iter().any(|known| known.name == v.name) {
                self.pod.volumes.push(v.clone());
            }
        }
        let name = add.app.name.clone();
        limits::create(&add.app).map_err(|e| format!("cannot make app {name}'s cgroup: {e}"))?;
        let root = approot::prepare(
            &add.app,
            approot::in_share(&add.root),
            &self.pod.volumes,
            &self.pod.etc,
            None,
        )
        .map_err(|e| {
            limits::remove(&name);
            format!("cannot prepare app {name}: {e}")
        })?;
        if self.pod.debug {
            crate::log(&format!("app {id} ({name}) added at {root}"));
        }
        self.roots.insert(name, root);
        self.added.insert(id, add);
        Ok(())
    }

    fn start_app(&mut self, id: u32, name: &str) -> Result<(), String> {
        if let Some(p) = self.procs.get(&id) {
            return Err(match p.code {
                None => format!("app {name} is already running"),
                Some(_) => format!("app {name} has exited; remove it and add it again"),
            });
        }
        if self.never_started.contains(&id) {
            return Err(format!("app {name} has exited; remove it and add it again"));
        }
        let Some(app) = self.added.get(&id).map(|a| a.app.clone()) else {
            return Err(format!("app {name} has exited; remove it and add it again"));
        };
        let root = self.roots.get(name).cloned().unwrap_or_default();
        let child = spawn::spawn(&spawn::Spec {
            root: &root,
            app: &app,
            argv: &app.exec,
            extra_env: &[],
            // Kept open for attach clients (`--stdin`), fed by `Stdin` frames.
            stdin: app.stdin,
            listen: &[],
        })
        .map_err(|e| format!("cannot start app {name}: {e}"))?;
        self.add(id, child);
        self.send(Frame::new(Kind::AppStarted, id, Vec::new()))
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Its stop signal now, SIGKILL after `secs`; `None`: answered at its
    /// exit.
    fn stop_app(&mut self, id: u32, secs: u32) -> Option<Result<(), String>> {
        let Some(p) = self.procs.get(&id) else {
            if self.never_started.insert(id) {
                let sent = self.send(Frame::new(Kind::Exit, id, exit_payload(KILLED, None)));
                return Some(sent.map_err(|e| e.to_string()));
            }
            return Some(Ok(()));
        };
        if p.code.is_some() {
            return Some(Ok(()));
        }
        let sig = if secs == 0 {
            libc::SIGKILL
        } else {
            self.stop_signal(id)
        };
        super::send_signal(p.pid, sig);
        let at = Instant::now() + Duration::from_secs(u64::from(secs));
        let at = self.app_kill.get(&id).map_or(at, |t| (*t).min(at));
        self.app_kill.insert(id, at);
        self.stop_waiters.insert(id);
        None
    }

    fn rm_app(&mut self, id: u32, name: &str) -> Result<(), String> {
        if self.procs.get(&id).is_some_and(|p| p.code.is_none()) {
            return Err(format!("app {name} is running; stop it first"));
        }
        if let Some(root) = self.roots.remove(name) {
            approot::release(&root).map_err(|e| e.to_string())?;
        }
        limits::remove(name);
        self.procs.remove(&id);
        self.added.remove(&id);
        self.never_started.remove(&id);
        Ok(())
    }

    /// SIGKILLs the apps whose `app-stop` deadline has passed.
    pub(super) fn kill_overdue(&mut self) {
        let now = Instant::now();
        let due: Vec<u32> = self
            .app_kill
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.app_kill.remove(&id);
            if let Some(p) = self.procs.get(&id).filter(|p| p.code.is_none()) {
                let _ = rustix::process::kill_process_group(p.pid, Signal::KILL);
                let _ = rustix::process::kill_process(p.pid, Signal::KILL);
            }
        }
    }
}
