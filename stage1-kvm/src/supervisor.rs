//! The host side of a running kvm pod: the stage1 process stays, holding
//! the pod lock, as the VM's supervisor. One poll loop relays the guest's
//! frames (app output to our stdout/stderr and `logs/`, exit statuses to `status/`,
//! readiness to `ready` and systemd's `NOTIFY_SOCKET`, the gating app's notifications
//! when `--sd-notify=app`; starts and exits also to the event journal), proxies socket
//! activation's connections ([`crate::activation`]), forwards our stdin to the first app and
//! SIGTERM/SIGINT/SIGHUP to every app, and serves `enter` and `stop` on the
//! control socket, each client a session multiplexed onto the one
//! virtio-serial port. It returns when the VM is gone. A mutable pod's
//! `app-*` requests come over the same socket ([`mutable`]).

mod attach;
mod mutable;

pub use mutable::Mutable;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use rukt_contract::logfmt::Stream;
use rukt_contract::runtime::events::PodEvents;
use rukt_contract::{READY_FILE, STATUS_DIR};
use rukt_kvm_init::proto::{
    Decoder, Frame, Kind, SESSION_BASE, encode_chunked, parse_exit, reply_payload, stop_payload,
};
use rustix::event::{PollFd, PollFlags};
use tracing::debug;

/// A connected `enter` or `stop` client.
struct Client {
    stream: UnixStream,
    decoder: Decoder,
}

/// How the pod ended.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Each app's exit code, if the guest reported it.
    pub codes: Vec<Option<u8>>,
    /// The first non-zero exit code reported, in the order they came.
    pub first_failure: Option<u8>,
    /// Whether the guest said it had started the apps.
    pub started: bool,
    /// A message from the guest about an app it could not start.
    pub error: Option<String>,
    /// The apps that ran and whose exit the guest never reported.
    pub unreported: Vec<String>,
}

/// The supervisor's state.
pub struct Supervisor {
    guest: UnixStream,
    decoder: Decoder,
    control: UnixListener,
    clients: BTreeMap<u32, Client>,
    next_session: u32,
    vmm: OwnedFd,
    signals: SignalFd,
    stdin: Option<io::Stdin>,
    apps: Vec<String>,
    outcome: Outcome,
    logs: crate::logs::Logs,
    proxy: Option<crate::activation::Proxy>,
    relay_notify: bool,
    events: PodEvents,
    mutable: Option<Mutable>,
}

/// The signals forwarded to the apps.
pub const FORWARDED: [Signal; 3] = [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP];

impl Supervisor {
    /// A supervisor of the guest on `guest`, whose VMM process is `vmm` (a
    /// pidfd).
    pub fn new(
        guest: UnixStream,
        control: UnixListener,
        vmm: OwnedFd,
        signals: SignalFd,
        forward_stdin: bool,
        apps: Vec<String>,
        events: PodEvents,
    ) -> Supervisor {
        let n = apps.len();
        Supervisor {
            guest,
            decoder: Decoder::default(),
            control,
            clients: BTreeMap::new(),
            next_session: SESSION_BASE,
            vmm,
            signals,
            stdin: forward_stdin.then(io::stdin),
            apps,
            outcome: Outcome {
                codes: vec![None; n],
                ..Outcome::default()
            },
            logs: crate::logs::Logs::default(),
            proxy: None,
            relay_notify: false,
            events,
            mutable: None,
        }
    }

    /// Serves a mutable pod's `app-*` requests.
    pub fn with_mutable(mut self, mutable: Option<Mutable>) -> Supervisor {
        self.mutable = mutable;
        self
    }

    /// Proxies socket activation's connections into the guest.
    pub fn with_activation(mut self, proxy: Option<crate::activation::Proxy>) -> Supervisor {
        self.proxy = proxy;
        self
    }

    /// Relays the gating app's notifications (`--sd-notify=app`).
    pub fn with_app_notify(mut self, relay: bool) -> Supervisor {
        self.relay_notify = relay;
        self
    }

    /// Writes the apps' output to `logs` too.
    pub fn with_logs(mut self, logs: crate::logs::Logs) -> Supervisor {
        self.logs = logs;
        self
    }

    /// Sends the first frame (the pod) and serves until the VM is gone.
    pub fn run(mut self, pod_frame: Frame) -> anyhow::Result<Outcome> {
        self.send_guest(&pod_frame)?;
        loop {
            let ready = self.wait()?;
            if ready.vmm {
                debug!("the VMM exited");
                self.drain_guest()?;
                break;
            }
            if ready.guest && !self.read_guest()? {
                debug!("the guest closed the control port");
                break;
            }
            if ready.signal {
                self.forward_signal()?;
            }
            if ready.stdin {
                self.forward_stdin()?;
            }
            if ready.control {
                self.accept();
            }
            for id in ready.clients {
                self.read_client(id)?;
            }
            for index in ready.listeners {
                if let Some(f) = self.proxy.as_mut().and_then(|p| p.accept(index)) {
                    self.send_guest(&f)?;
                }
            }
            for id in ready.conns {
                if let Some(f) = self.proxy.as_mut().and_then(|p| p.read(id)) {
                    self.send_guest(&f)?;
                }
            }
            for token in ready.attach {
                let input = self.mutable.as_mut().and_then(|m| m.attach.ready(token));
                if let Some((id, bytes)) = input {
                    self.send_guest(&Frame::new(Kind::Stdin, id, bytes))?;
                }
            }
        }
        let unreported = (0..self.apps.len())
            .filter(|i| self.outcome.codes[*i].is_none())
            .filter(|i| {
                let id = *i as u32;
                self.mutable
                    .as_ref()
                    .is_none_or(|m| m.has(id) && m.started.contains(&id))
            })
            .map(|i| self.apps[i].clone())
            .collect();
        self.outcome.unreported = unreported;
        Ok(self.outcome)
    }

    fn wait(&self) -> anyhow::Result<Ready> {
        let mut fds = vec![
            PollFd::new(&self.vmm, PollFlags::IN),
            PollFd::new(&self.guest, PollFlags::IN),
            PollFd::new(&self.signals, PollFlags::IN),
            PollFd::new(&self.control, PollFlags::IN),
        ];
        let stdin_fd = self.stdin.as_ref().map(|s| s.as_fd());
        if let Some(fd) = stdin_fd {
            fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
        }
        let base = fds.len();
        let ids: Vec<u32> = self.clients.keys().copied().collect();
        for c in self.clients.values() {
            fds.push(PollFd::new(&c.stream, PollFlags::IN));
        }
        let listeners_at = fds.len();
        let mut conn_ids = Vec::new();
        if let Some(p) = &self.proxy {
            fds.extend(
                p.listeners()
                    .map(|l| PollFd::from_borrowed_fd(l, PollFlags::IN)),
            );
        }
        let conns_at = fds.len();
        if let Some(p) = &self.proxy {
            for (id, fd) in p.readable() {
                fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
                conn_ids.push(id);
            }
        }
        let attach_at = fds.len();
        let attach: Vec<(attach::Token, BorrowedFd<'_>)> = self
            .mutable
            .as_ref()
            .map(|m| m.attach.pollable())
            .unwrap_or_default();
        fds.extend(
            attach
                .iter()
                .map(|(_, fd)| PollFd::from_borrowed_fd(*fd, PollFlags::IN)),
        );
        loop {
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e).context("cannot poll"),
            }
        }
        let hit = |i: usize| !fds[i].revents().is_empty();
        Ok(Ready {
            vmm: hit(0),
            guest: hit(1),
            signal: hit(2),
            control: hit(3),
            stdin: stdin_fd.is_some() && hit(4),
            clients: ids
                .iter()
                .enumerate()
                .filter(|(i, _)| hit(base + i))
                .map(|(_, id)| *id)
                .collect(),
            listeners: (listeners_at..conns_at)
                .filter(|i| hit(*i))
                .map(|i| i - listeners_at)
                .collect(),
            conns: conn_ids
                .iter()
                .enumerate()
                .filter(|(i, _)| hit(conns_at + i))
                .map(|(_, id)| *id)
                .collect(),
            attach: attach
                .iter()
                .enumerate()
                .filter(|(i, _)| hit(attach_at + i))
                .map(|(_, (t, _))| *t)
                .collect(),
        })
    }

    /// Reads and handles what the guest sent; false at end of file.
    fn read_guest(&mut self) -> anyhow::Result<bool> {
        let mut buf = vec![0u8; 256 * 1024];
        let n = match self.guest.read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(false),
            Err(e) => return Err(e).context("cannot read from the guest"),
        };
        self.decoder.push(&buf[..n]);
        while let Some(frame) = self
            .decoder
            .next_frame()
            .context("malformed frame from the guest")?
        {
            self.handle_guest(frame)?;
        }
        Ok(true)
    }

    /// Reads what is left once the VMM has exited.
    fn drain_guest(&mut self) -> anyhow::Result<()> {
        self.guest.set_nonblocking(true)?;
        while self.read_guest()? {
            let mut fds = [PollFd::new(&self.guest, PollFlags::IN)];
            if rustix::event::poll(&mut fds, Some(&rustix::event::Timespec::default()))? == 0 {
                break;
            }
        }
        Ok(())
    }

    fn handle_guest(&mut self, frame: Frame) -> anyhow::Result<()> {
        if frame.kind == Kind::ConnOut {
            let reply = self
                .proxy
                .as_mut()
                .and_then(|p| p.write(frame.id, &frame.payload));
            return reply.map_or(Ok(()), |f| self.send_guest(&f));
        }
        if frame.kind == Kind::Notify {
            let allowed = rukt_contract::sdnotify::relayable(&frame.payload);
            if self.relay_notify && !allowed.is_empty() {
                debug!("relaying {allowed:?} from the gating app");
                rukt_contract::sdnotify::engine_notify(&allowed);
            }
            return Ok(());
        }
        match frame.kind {
            Kind::Reply if frame.id < SESSION_BASE => {
                self.guest_reply(frame.id, &frame.payload);
                return Ok(());
            }
            Kind::AppStarted => return self.app_started(frame.id),
            _ => {}
        }
        if frame.id >= SESSION_BASE {
            if let Some(c) = self.clients.get_mut(&frame.id) {
                let mut out = Vec::new();
                encode_chunked(frame.kind, 0, &frame.payload, &mut out);
                if c.stream.write_all(&out).is_err() {
                    self.clients.remove(&frame.id);
                }
            }
            return Ok(());
        }
        let app = self.apps.get(frame.id as usize).cloned();
        match (frame.kind, app) {
            (Kind::Stdout, Some(_)) => {
                self.logs
                    .record(frame.id as usize, Stream::Stdout, &frame.payload);
                match self.mutable.as_mut() {
                    // A mutable pod's output is in its logs and attach points.
                    Some(m) => m.attach.output(frame.id, false, &frame.payload),
                    None => write_out(&mut io::stdout().lock(), &frame.payload),
                }
            }
            (Kind::Stderr, Some(_)) => {
                self.logs
                    .record(frame.id as usize, Stream::Stderr, &frame.payload);
                match self.mutable.as_mut() {
                    Some(m) => m.attach.output(frame.id, true, &frame.payload),
                    None => write_out(&mut io::stderr().lock(), &frame.payload),
                }
            }
            (Kind::Started, _) => {
                self.outcome.started = true;
                crate::pod::write_file(".", READY_FILE, b"")?;
                self.apps.iter().for_each(|a| self.events.app_started(a));
                self.events.pod_started();
                // Under `--sd-notify=app` the gating app says when.
                if !self.relay_notify {
                    rukt_contract::sdnotify::pod_ready(self.apps.len());
                }
            }
            (Kind::Exit, Some(app)) => {
                let Some((code, reason)) = parse_exit(&frame.payload) else {
                    return Ok(());
                };
                debug!("app {app:?} exited with {code}");
                if let Some(reason) = &reason {
                    let name = format!("{app}.reason");
                    crate::pod::write_file(STATUS_DIR, &name, reason.as_bytes())?;
                }
                crate::pod::write_file(STATUS_DIR, &app, code.to_string().as_bytes())?;
                self.events.app_exited(&app, code, reason.as_deref());
                self.outcome.codes[frame.id as usize] = Some(code);
                if let Some(m) = self.mutable.as_mut() {
                    m.attach.app_exited(frame.id);
                }
                // A mutable pod's apps end nothing: their codes are not its.
                if code != 0 && self.outcome.first_failure.is_none() && self.mutable.is_none() {
                    self.outcome.first_failure = Some(code);
                }
            }
            (Kind::Error, _) => {
                self.outcome.error = Some(String::from_utf8_lossy(&frame.payload).into_owned());
            }
            _ => debug!("ignoring a {:?} frame for id {}", frame.kind, frame.id),
        }
        Ok(())
    }

    fn send_guest(&mut self, frame: &Frame) -> anyhow::Result<()> {
        let mut out = Vec::new();
        encode_chunked(frame.kind, frame.id, &frame.payload, &mut out);
        match self.guest.write_all(&out) {
            Ok(()) => Ok(()),
            // The VM is going away; the loop will notice.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(e).context("cannot write to the guest"),
        }
    }

    fn forward_signal(&mut self) -> anyhow::Result<()> {
        while let Ok(Some(info)) = self.signals.read_signal() {
            let signo = info.ssi_signo as u8;
            if i32::from(signo) == libc::SIGUSR1 {
                self.logs.reopen();
                continue;
            }
            rukt_contract::sdnotify::pod_stopping();
            if self.mutable.is_some() {
                debug!("signal {signo}: stopping the mutable pod");
                self.stopping();
                self.send_guest(&Frame::new(Kind::Stop, 0, stop_payload(10)))?;
                continue;
            }
            debug!("forwarding signal {signo} to the apps");
            for id in 0..self.apps.len() as u32 {
                self.send_guest(&Frame::new(Kind::Signal, id, vec![signo]))?;
            }
        }
        Ok(())
    }

    fn forward_stdin(&mut self) -> anyhow::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = match self.stdin.as_mut().map(|s| s.read(&mut buf)) {
            Some(Ok(n)) => n,
            Some(Err(e)) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            _ => 0,
        };
        if n == 0 {
            self.stdin = None;
        }
        self.send_guest(&Frame::new(Kind::Stdin, 0, buf[..n].to_vec()))
    }

    fn accept(&mut self) {
        if let Ok((stream, _)) = self.control.accept() {
            let id = self.next_session;
            self.next_session += 1;
            debug!("control client {id} connected");
            self.clients.insert(
                id,
                Client {
                    stream,
                    decoder: Decoder::default(),
                },
            );
        }
    }

    /// Forwards a client's frames to the guest as its session's.
    fn read_client(&mut self, id: u32) -> anyhow::Result<()> {
        let Some(c) = self.clients.get_mut(&id) else {
            return Ok(());
        };
        let mut buf = vec![0u8; 64 * 1024];
        let n = c.stream.read(&mut buf).unwrap_or(0);
        if n == 0 {
            debug!("control client {id} left");
            self.clients.remove(&id);
            self.send_guest(&Frame::new(Kind::Signal, id, vec![libc::SIGHUP as u8]))?;
            return self.send_guest(&Frame::new(Kind::Stdin, id, Vec::new()));
        }
        c.decoder.push(&buf[..n]);
        let mut frames = Vec::new();
        loop {
            match c.decoder.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => {
                    debug!("control client {id}: {e}");
                    self.clients.remove(&id);
                    return Ok(());
                }
            }
        }
        for f in frames {
            match f.kind {
                Kind::Exec | Kind::Stdin => self.send_guest(&Frame::new(f.kind, id, f.payload))?,
                Kind::Signal => self.send_guest(&Frame::new(Kind::Signal, id, f.payload))?,
                Kind::Stop => {
                    self.stopping();
                    self.send_guest(&Frame::new(Kind::Stop, 0, f.payload))?;
                }
                Kind::AppAdd | Kind::AppStart | Kind::AppStop | Kind::AppRm | Kind::AppUpdate => {
                    if let Some(outcome) = self.app_call(id, f.kind, &f.payload)? {
                        let reply = Frame::new(Kind::Reply, 0, reply_payload(&outcome));
                        if let Some(c) = self.clients.get_mut(&id) {
                            let _ = c.stream.write_all(&reply.encode());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What the poll found ready.
struct Ready {
    vmm: bool,
    guest: bool,
    signal: bool,
    control: bool,
    stdin: bool,
    clients: Vec<u32>,
    listeners: Vec<usize>,
    conns: Vec<u32>,
    attach: Vec<attach::Token>,
}

/// Writes app output; a closed stdout (a pipe whose reader left) drops it,
/// as the app's own write would have failed.
fn write_out(w: &mut impl Write, data: &[u8]) {
    let _ = w.write_all(data).and_then(|()| w.flush());
}

/// Blocks the forwarded signals and returns a descriptor reading them.
pub fn signal_fd() -> anyhow::Result<SignalFd> {
    let mut mask = nix::sys::signal::SigSet::empty();
    for s in FORWARDED {
        mask.add(s);
    }
    // Not forwarded: the supervisor reopens its log files.
    mask.add(Signal::SIGUSR1);
    mask.thread_block().context("cannot block signals")?;
    SignalFd::with_flags(
        &mask,
        nix::sys::signalfd::SfdFlags::SFD_CLOEXEC | nix::sys::signalfd::SfdFlags::SFD_NONBLOCK,
    )
    .context("cannot create a signalfd")
}

/// Waits up to `timeout` for a connection on `listener` while `vmm` (a
/// pidfd) is alive; `None` if the VMM exited first or the time ran out.
pub fn accept_guest(
    listener: &UnixListener,
    vmm: BorrowedFd<'_>,
    timeout: Duration,
) -> anyhow::Result<Option<UnixStream>> {
    let ts = rustix::event::Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: 0,
    };
    let mut fds = [
        PollFd::new(listener, PollFlags::IN),
        PollFd::from_borrowed_fd(vmm, PollFlags::IN),
    ];
    rustix::event::poll(&mut fds, Some(&ts)).context("cannot poll")?;
    if fds[0].revents().is_empty() {
        return Ok(None);
    }
    let (stream, _) = listener
        .accept()
        .context("cannot accept the VMM's connection")?;
    Ok(Some(stream))
}
