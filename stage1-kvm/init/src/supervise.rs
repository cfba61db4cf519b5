//! The guest's event loop, PID 1's main job: start the apps, relay their
//! stdout and stderr to the host, run `enter` sessions, deliver signals and
//! stop requests, reap every process, report exit statuses, and return
//! when the pod is over.
//!
//! Policy, as rkt's: the pod ends when all its apps have ended; when one
//! app fails (non-zero exit), the others get SIGTERM, and SIGKILL
//! [`FAIL_GRACE`] later. Everything still alive when the last app has ended
//! (sessions, orphans) is killed. A mutable pod instead runs until it is
//! stopped, its apps added, started, stopped and removed one by one
//! ([`mutable`]), and an app's exit ends nothing else.

mod mutable;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{ChildStderr, ChildStdin, ChildStdout};
use std::time::{Duration, Instant};

use rukt_kvm_init::proto::{
    CONN_BASE, Decoder, ExecRequest, Frame, GuestPod, Kind, SESSION_BASE, encode_chunked,
    exit_payload,
};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, WaitOptions};

use crate::activation::{Conns, Listeners};
use crate::notify::AppNotify;
use crate::{approot, log, spawn};

/// The poll owner id of the gating app's notification socket.
const NOTIFY_ID: u32 = u32::MAX;

/// How long the other apps get after one failed.
const FAIL_GRACE: Duration = Duration::from_secs(10);

/// A process the host knows of: an app (id < [`SESSION_BASE`]) or an
/// `enter` session.
struct Proc {
    pid: Pid,
    pidfd: Option<OwnedFd>,
    stdin: Option<ChildStdin>,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    code: Option<u8>,
}

/// The guest's state.
pub struct Guest {
    port: File,
    decoder: Decoder,
    pod: GuestPod,
    procs: BTreeMap<u32, Proc>,
    kill_at: Option<Instant>,
    listeners: Option<Listeners>,
    conns: Conns,
    notify: Option<AppNotify>,
    /// Each app's root, by name (`enter`).
    roots: BTreeMap<String, String>,
    /// A mutable pod's apps added since it booted, by id.
    added: BTreeMap<u32, rukt_kvm_init::proto::GuestApp>,
    /// Added apps stopped before they were ever started.
    never_started: BTreeSet<u32>,
    /// Per-app SIGKILL deadlines (`app-stop`).
    app_kill: BTreeMap<u32, Instant>,
    /// Apps whose `app-stop` is answered when they exit.
    stop_waiters: BTreeSet<u32>,
    /// The pod is stopping (a mutable pod ends once its apps have).
    stopping: bool,
}

impl Guest {
    /// A guest with the host's port and the pod it sent.
    pub fn new(port: File, decoder: Decoder, pod: GuestPod) -> Guest {
        Guest {
            port,
            decoder,
            pod,
            procs: BTreeMap::new(),
            kill_at: None,
            listeners: None,
            conns: Conns::default(),
            notify: None,
            roots: BTreeMap::new(),
            added: BTreeMap::new(),
            never_started: BTreeSet::new(),
            app_kill: BTreeMap::new(),
            stop_waiters: BTreeSet::new(),
            stopping: false,
        }
    }

    /// Starts the apps and serves until they have all ended.
    pub fn run(mut self) -> io::Result<()> {
        let listeners = Listeners::open(&self.pod.listen)?;
        self.notify = self
            .pod
            .notify_app
            .as_deref()
            .map(AppNotify::open)
            .transpose()?;
        let apps = self.pod.apps.clone();
        for (i, app) in apps.iter().enumerate() {
            let notify = self.notify.as_ref().and_then(|n| n.give(&app.name));
            let activated = i == self.pod.listen_app && !listeners.is_empty();
            let mut extra_env: Vec<String> = notify.iter().map(|(_, v)| v.clone()).collect();
            if activated {
                extra_env.extend(listeners.env());
            }
            let fds = if activated {
                listeners.fds()
            } else {
                Vec::new()
            };
            self.roots
                .insert(app.name.clone(), approot::path(&app.name));
            let started = approot::prepare(
                app,
                approot::path(&app.name),
                &self.pod.volumes,
                &self.pod.etc,
                notify.as_ref().map(|(dir, _)| *dir),
            )
            .and_then(|root| {
                let spec = spawn::Spec {
                    root: &root,
                    app,
                    argv: &app.exec,
                    extra_env: &extra_env,
                    stdin: i == 0 && self.pod.stdin,
                    listen: &fds,
                };
                if activated {
                    // PID 1 of a namespace of its own: `LISTEN_PID=1` is true.
                    rukt_sys::pidns::with_children_in_new_pid_namespace(|| spawn::spawn(&spec))?
                } else {
                    spawn::spawn(&spec)
                }
            });
            match started {
                Ok(child) => self.add(i as u32, child),
                Err(e) => {
                    let msg = format!("cannot start app {:?}: {e}", app.name);
                    self.send(Frame::new(Kind::Error, i as u32, msg))?;
                    self.kill_all(Signal::KILL);
                    return Ok(());
                }
            }
        }
        let mut listeners = listeners;
        listeners.close_fds();
        self.listeners = Some(listeners);
        // Frames that came with the pod's (a client the host accepted at
        // once) wait in the decoder; no new bytes on the port would wake us.
        while let Some(frame) = self.decoder.next_frame().map_err(io::Error::other)? {
            self.handle(frame)?;
        }
        self.send(Frame::new(Kind::Started, 0, Vec::new()))?;
        if self.pod.debug {
            log("apps started");
        }
        while self.apps_running() || (self.pod.mutable && !self.stopping) {
            self.step()?;
        }
        self.finish()
    }

    fn add(&mut self, id: u32, child: std::process::Child) {
        let pid = Pid::from_raw(child.id() as i32).expect("a child's PID is positive");
        let pidfd = rustix::process::pidfd_open(pid, PidfdFlags::empty()).ok();
        for fd in [
            child.stdout.as_ref().map(|f| f.as_fd()),
            child.stderr.as_ref().map(|f| f.as_fd()),
        ]
        .into_iter()
        .flatten()
        {
            let _ = rustix::io::ioctl_fionbio(fd, true);
        }
        self.procs.insert(
            id,
            Proc {
                pid,
                pidfd,
                stdin: child.stdin,
                stdout: child.stdout,
                stderr: child.stderr,
                code: None,
            },
        );
    }

    fn apps_running(&self) -> bool {
        self.procs
            .iter()
            .any(|(id, p)| *id < SESSION_BASE && p.code.is_none())
    }

    /// One round: wait for something, handle it.
    fn step(&mut self) -> io::Result<()> {
        let next = self
            .kill_at
            .into_iter()
            .chain(self.app_kill.values().copied())
            .min();
        let timeout = match next {
            Some(t) => t.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(1),
        };
        let (port_ready, ready) = self.wait(timeout)?;
        if port_ready {
            let mut buf = [0u8; 64 * 1024];
            match self.port.read(&mut buf) {
                // The host went away: nobody to run the pod for.
                Ok(0) => {
                    self.stopping = true;
                    self.kill_all(Signal::KILL);
                }
                Ok(n) => {
                    self.decoder.push(&buf[..n]);
                    while let Some(frame) = self.decoder.next_frame().map_err(io::Error::other)? {
                        self.handle(frame)?;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        for id in ready {
            match id {
                NOTIFY_ID => self.relay_notify()?,
                id if id >= CONN_BASE => {
                    if let Some(f) = self.conns.relay(id) {
                        self.send(f)?;
                    }
                }
                id => self.relay(id)?,
            }
        }
        self.reap()?;
        if self.kill_at.is_some_and(|t| Instant::now() >= t) {
            self.kill_at = None;
            self.kill_all(Signal::KILL);
        }
        self.kill_overdue();
        Ok(())
    }

    /// Polls the port, every output pipe and every pidfd.
    fn wait(&self, timeout: Duration) -> io::Result<(bool, Vec<u32>)> {
        let mut fds = vec![PollFd::new(&self.port, PollFlags::IN)];
        let mut owners = Vec::new();
        for (id, p) in &self.procs {
            let out = p.stdout.as_ref().map(|f| f.as_fd());
            let err = p.stderr.as_ref().map(|f| f.as_fd());
            let pidfd = p
                .pidfd
                .as_ref()
                .filter(|_| p.code.is_none())
                .map(|f| f.as_fd());
            for fd in [out, err, pidfd].into_iter().flatten() {
                fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
                owners.push(*id);
            }
        }
        for (id, fd) in self.conns.pollable() {
            fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
            owners.push(id);
        }
        if let Some(n) = &self.notify {
            fds.push(PollFd::from_borrowed_fd(n.fd(), PollFlags::IN));
            owners.push(NOTIFY_ID);
        }
        let ts = Timespec {
            tv_sec: timeout.as_secs() as i64,
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        match rustix::event::poll(&mut fds, Some(&ts)) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let port = !fds[0].revents().is_empty();
        let mut ready: Vec<u32> = fds[1..]
            .iter()
            .zip(&owners)
            .filter(|(f, _)| !f.revents().is_empty())
            .map(|(_, id)| *id)
            .collect();
        ready.dedup();
        Ok((port, ready))
    }

    fn handle(&mut self, frame: Frame) -> io::Result<()> {
        match frame.kind {
            Kind::Exec => {
                let req: ExecRequest = serde_json::from_slice(&frame.payload)?;
                if frame.id < SESSION_BASE || self.procs.contains_key(&frame.id) {
                    return Ok(());
                }
                self.exec(frame.id, &req)
            }
            Kind::Stdin => {
                if let Some(p) = self.procs.get_mut(&frame.id) {
                    if frame.payload.is_empty() {
                        p.stdin = None;
                    } else if let Some(stdin) = &mut p.stdin
                        && stdin.write_all(&frame.payload).is_err()
                    {
                        p.stdin = None;
                    }
                }
                Ok(())
            }
            Kind::Signal => {
                let sig = frame.payload.first().copied().unwrap_or(15);
                if let (Some(p), Some(sig)) = (
                    self.procs.get(&frame.id),
                    Signal::from_named_raw(i32::from(sig)),
                ) && p.code.is_none()
                {
                    let _ = rustix::process::kill_process_group(p.pid, sig);
                }
                Ok(())
            }
            Kind::Stop => {
                let secs = rukt_kvm_init::proto::parse_stop(&frame.payload, 10);
                self.stopping = true;
                self.ask_all_to_stop();
                self.kill_at = Some(Instant::now() + Duration::from_secs(u64::from(secs)));
                Ok(())
            }
            Kind::Accept if frame.id >= CONN_BASE => {
                let Some(l) = &self.listeners else {
                    return Ok(());
                };
                let refused = self.conns.accept(l, frame.id, &frame.payload);
                if self.pod.debug {
                    let ok = if refused.is_some() {
                        "refused"
                    } else {
                        "connected"
                    };
                    log(&format!("connection {}: {ok}", frame.id));
                }
                refused.map_or(Ok(()), |f| self.send(f))
            }
            Kind::ConnIn => match self.conns.data_in(frame.id, &frame.payload) {
                Some(f) => self.send(f),
                None => Ok(()),
            },
            Kind::AppAdd | Kind::AppStart | Kind::AppStop | Kind::AppRm | Kind::AppUpdate
                if self.pod.mutable && frame.id < SESSION_BASE =>
            {
                let outcome = self.app_request(&frame);
                if let Some(outcome) = outcome {
                    let payload = rukt_kvm_init::proto::reply_payload(&outcome);
                    self.send(Frame::new(Kind::Reply, frame.id, payload))?;
                }
                Ok(())
            }
            // Guest → host kinds, or a second pod: ignored.
            _ => Ok(()),
        }
    }

    /// Starts an `enter` session.
    fn exec(&mut self, id: u32, req: &ExecRequest) -> io::Result<()> {
        let mut apps = self
            .pod
            .apps
            .iter()
            .chain(self.added.values().map(|a| &a.app));
        let Some(app) = apps.rfind(|a| a.name == req.app).cloned() else {
            let msg = format!("the pod has no app {:?}", req.app);
            self.send(Frame::new(Kind::Error, id, msg))?;
            return Ok(());
        };
        let shell = ["/bin/sh".to_string()];
        let argv = if req.argv.is_empty() {
            &shell[..]
        } else {
            &req.argv[..]
        };
        let root = self
            .roots
            .get(&app.name)
            .cloned()
            .unwrap_or_else(|| approot::path(&app.name));
        match spawn::spawn(&spawn::Spec {
            root: &root,
            app: &app,
            argv,
            extra_env: &req.env,
            stdin: true,
            listen: &[],
        }) {
            Ok(child) => self.add(id, child),
            Err(e) => {
                let msg = format!("cannot execute {:?}: {e}", argv[0]);
                self.send(Frame::new(Kind::Error, id, msg))?;
            }
        }
        Ok(())
    }

    /// Forwards what the gating app sent its notification socket.
    fn relay_notify(&mut self) -> io::Result<()> {
        let mut out = Vec::new();
        if let Some(n) = &self.notify {
            n.relay(&mut out);
        }
        self.port.write_all(&out)
    }

    /// Forwards what `id`'s pipes hold now.
    fn relay(&mut self, id: u32) -> io::Result<()> {
        let Some(p) = self.procs.get_mut(&id) else {
            return Ok(());
        };
        let mut out = Vec::new();
        if drain(&mut p.stdout, Kind::Stdout, id, &mut out) {
            p.stdout = None;
        }
        if drain(&mut p.stderr, Kind::Stderr, id, &mut out) {
            p.stderr = None;
        }
        if !out.is_empty() {
            self.port.write_all(&out)?;
        }
        Ok(())
    }

    /// Reaps every exited process; reports the apps and sessions among them.
    fn reap(&mut self) -> io::Result<()> {
        loop {
            let (pid, status) = match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some(x)) => x,
                Ok(None) | Err(Errno::CHILD) => return Ok(()),
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            };
            let Some(id) = self
                .procs
                .iter()
                .find(|(_, p)| p.pid == pid && p.code.is_none())
                .map(|(id, _)| *id)
            else {
                continue;
            };
            let code = rukt_contract::exit_code_from_wait_status(status.as_raw());
            if self.pod.debug {
                log(&format!(
                    "{id} (PID {}) exited with {code}",
                    pid.as_raw_nonzero()
                ));
            }
            self.relay(id)?;
            if let Some(p) = self.procs.get_mut(&id) {
                p.code = Some(code);
                p.stdin = None;
            }
            let reason = self.oom_killed(id, code).then_some("oom-killed");
            self.send(Frame::new(Kind::Exit, id, exit_payload(code, reason)))?;
            self.app_kill.remove(&id);
            if self.stop_waiters.remove(&id) {
                self.send(Frame::new(Kind::Reply, id, Vec::new()))?;
            }
            if id < SESSION_BASE
                && !self.pod.mutable
                && code != 0
                && self.apps_running()
                && self.kill_at.is_none()
            {
                log(&format!("app {id} failed ({code}): stopping the others"));
                self.ask_all_to_stop();
                self.kill_at = Some(Instant::now() + FAIL_GRACE);
            }
        }
    }

    /// Signals every running app and session (their process groups).
    fn kill_all(&mut self, sig: Signal) {
        for p in self.procs.values().filter(|p| p.code.is_none()) {
            let _ = rustix::process::kill_process_group(p.pid, sig);
            let _ = rustix::process::kill_process(p.pid, sig);
        }
    }

    /// Sends every running app its stop signal (sessions get SIGTERM).
    fn ask_all_to_stop(&mut self) {
        for (id, p) in self.procs.iter().filter(|(_, p)| p.code.is_none()) {
            send_signal(p.pid, self.stop_signal(*id));
        }
    }

    /// App `id`, added or booted with (not a session).
    fn app(&self, id: u32) -> Option<&rukt_contract::App> {
        (self.added.get(&id).map(|a| &a.app))
            .or_else(|| self.pod.apps.get(id as usize).filter(|_| id < SESSION_BASE))
    }

    /// The stop signal of app `id`: its manifest's, else SIGTERM.
    fn stop_signal(&self, id: u32) -> i32 {
        self.app(id)
            .and_then(|a| a.stop_signal.as_deref())
            .and_then(rukt_contract::signal::number)
            .unwrap_or(libc::SIGTERM)
    }

    /// Whether app `id`, which exited with `code`, was killed by the OOM
    /// killer (its memory limit's or the VM's): a SIGKILL, and its cgroup
    /// counted an OOM kill (cgroup v2's `memory.events`).
    fn oom_killed(&self, id: u32, code: u8) -> bool {
        let Some(app) = self.app(id).filter(|_| code == 128 + 9) else {
            return false;
        };
        let events = format!("{}/memory.events", crate::limits::cgroup_dir(&app.name));
        std::fs::read_to_string(events).is_ok_and(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("oom_kill "))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .is_some_and(|n| n > 0)
        })
    }

    /// The apps are over: kill what is left, forward the last output and
    /// the sessions' ends.
    fn finish(mut self) -> io::Result<()> {
        if self.pod.debug {
            log("all apps have exited");
        }
        // SAFETY: kill(-1) from PID 1 signals every process but init.
        unsafe { libc::kill(-1, libc::SIGKILL) };
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.procs.values().any(|p| p.code.is_none()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
            self.reap()?;
        }
        let ids: Vec<u32> = self.procs.keys().copied().collect();
        for id in ids {
            self.relay(id)?;
        }
        // What the apps wrote to proxied connections before they ended is
        // still in the sockets: everything is dead, so each read ends at EOF.
        let conns: Vec<u32> = self.conns.pollable().map(|(id, _)| id).collect();
        for id in conns {
            while let Some(f) = self.conns.relay(id) {
                let end = f.payload.is_empty();
                self.send(f)?;
                if end {
                    break;
                }
            }
        }
        self.port.flush()
    }

    fn send(&mut self, frame: Frame) -> io::Result<()> {
        let mut out = Vec::new();
        encode_chunked(frame.kind, frame.id, &frame.payload, &mut out);
        self.port.write_all(&out)
    }
}

/// Reads what `pipe` holds now into frames; whether it reached end of file.
fn drain<R: Read>(pipe: &mut Option<R>, kind: Kind, id: u32, out: &mut Vec<u8>) -> bool {
    let Some(r) = pipe else {
        return false;
    };
    let mut buf = [0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return true,
            Ok(n) => encode_chunked(kind, id, &buf[..n], out),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
}

/// Sends `sig` to the process group `pid` leads and to `pid` itself. By
/// number: a stop signal may be a real-time one, which rustix's [`Signal`]
/// does not name.
fn send_signal(pid: Pid, sig: i32) {
    let pid = pid.as_raw_nonzero().get();
    // SAFETY: kill() sends a signal; it reads and writes no memory of ours.
    unsafe {
        libc::kill(-pid, sig);
        libc::kill(pid, sig);
    }
}
