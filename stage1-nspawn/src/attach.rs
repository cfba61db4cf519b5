//! Attaching to the apps of a mutable pod (`rukt_contract::attach`): each
//! app gets a socket at `stage1/attach/<app>` (0600) and, when it asked
//! for one, a stdin pipe whose write end the supervisor keeps. Clients get
//! the app's output as it is read ([`crate::logs::Output`] hands it here
//! after logging it), as frames; what they write goes to the app's stdin.
//! An app with a terminal has no pipe: its clients' input comes in frames
//! (`rukt_contract::attach::TtyInput`), typed at the terminal's master or
//! setting its window size.
//! Everything is non-blocking and polled in the supervisor's loop: a
//! client that does not keep up loses its connection, never the app its
//! output or the pod its supervisor.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rukt_contract::attach::{MAX_FRAME, TtyInput, attach_socket, encode};
use rustix::io::Errno;

/// Output a slow client may have pending before it is dropped.
const MAX_PENDING: usize = 1024 * 1024;
/// How long a departing app's clients get to take what is pending.
const FLUSH: Duration = Duration::from_secs(1);

struct Client {
    stream: UnixStream,
    pending: Vec<u8>,
    /// It closed its side: no more input, output still goes to it.
    input_done: bool,
    /// The start of a terminal input frame not whole yet.
    partial: Vec<u8>,
}

/// One app's attach point.
struct Point {
    app: String,
    listener: UnixListener,
    /// Where input goes: the app's stdin pipe, or its terminal's master.
    stdin: Option<OwnedFd>,
    /// An app with a terminal: its master (resized by clients, whose
    /// input comes in frames).
    terminal: Option<OwnedFd>,
    once: bool,
    clients: Vec<Client>,
}

/// Every attach point of the pod.
#[derive(Default)]
pub struct Attach {
    points: Vec<Point>,
}

impl Attach {
    /// Opens `app`'s attach point; returns the read end of its stdin pipe
    /// when it asked for one.
    pub fn open(
        &mut self,
        pod_dir: &Path,
        app: &rukt_contract::App,
    ) -> anyhow::Result<Option<OwnedFd>> {
        let rel = attach_socket(&app.name);
        let path = pod_dir.join(&rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&rel)
            .with_context(|| format!("cannot listen on {}", path.display()))?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
        listener.set_nonblocking(true)?;
        let (read, stdin) = if app.stdin && !app.tty {
            let (r, w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                .context("cannot make the app's stdin pipe")?;
            let _ = rustix::pipe::fcntl_setpipe_size(&w, MAX_PENDING);
            rustix::fs::fcntl_setfl(&w, rustix::fs::OFlags::NONBLOCK)?;
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        self.points.push(Point {
            app: app.name.clone(),
            listener,
            stdin,
            terminal: None,
            once: app.stdin_once,
            clients: Vec::new(),
        });
        Ok(read)
    }

    /// Gives `app`'s point its terminal's `master` (an app with a tty):
    /// input typed there when the app has a stdin, resizes always.
    pub fn terminal(&mut self, app: &rukt_contract::App, master: &OwnedFd) -> std::io::Result<()> {
        if let Some(p) = self.points.iter_mut().find(|p| p.app == app.name) {
            if app.stdin {
                p.stdin = Some(master.try_clone()?);
            }
            p.terminal = Some(master.try_clone()?);
        }
        Ok(())
    }

    /// The descriptors to poll, in the order [`Attach::ready`] takes:
    /// each point's listener, then its clients.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.points.iter().flat_map(|p| {
            std::iter::once(p.listener.as_fd()).chain(
                p.clients
                    .iter()
                    .filter(|c| !c.input_done)
                    .map(|c| c.stream.as_fd()),
            )
        })
    }

    /// Descriptor `index` of [`Attach::fds`] is ready: a client to accept,
    /// or a client's input (or its leaving).
    pub fn ready(&mut self, mut index: usize) {
        for p in &mut self.points {
            if index == 0 {
                if let Ok((stream, _)) = p.listener.accept()
                    && stream.set_nonblocking(true).is_ok()
                {
                    tracing::debug!(app = %p.app, "attach client");
                    p.clients.push(Client {
                        stream,
                        pending: Vec::new(),
                        input_done: false,
                        partial: Vec::new(),
                    });
                }
                return;
            }
            index -= 1;
            let polled: Vec<usize> = (0..p.clients.len())
                .filter(|&i| !p.clients[i].input_done)
                .collect();
            if let Some(&i) = polled.get(index) {
                match p.input(i) {
                    Input::More => {}
                    Input::Done => {
                        p.clients[i].input_done = true;
                        p.input_ended();
                    }
                    Input::Gone => {
                        p.clients.remove(i);
                        p.input_ended();
                    }
                }
                return;
            }
            index -= polled.len();
        }
    }

    /// Hands `app`'s output on `stream` (1 stdout, 2 stderr) to its clients.
    pub fn output(&mut self, app: &str, stream: u8, data: &[u8]) {
        let Some(p) = self.points.iter_mut().find(|p| p.app == app) else {
            return;
        };
        if p.clients.is_empty() {
            return;
        }
        let mut frames = Vec::with_capacity(data.len() + 16);
        for chunk in data.chunks(MAX_FRAME) {
            encode(stream, chunk, &mut frames);
        }
        p.clients.retain_mut(|c| {
            c.pending.extend_from_slice(&frames);
            c.flush() && c.pending.len() <= MAX_PENDING
        });
    }

    /// `app`'s output is over (it exited and its pipes are drained): its
    /// clients get what is pending and are let go; its stdin closes.
    pub fn done(&mut self, app: &str) {
        if let Some(p) = self.points.iter_mut().find(|p| p.app == app) {
            p.stdin = None;
            p.terminal = None;
            for mut c in p.clients.drain(..) {
                if !c.pending.is_empty()
                    && c.stream.set_nonblocking(false).is_ok()
                    && c.stream.set_write_timeout(Some(FLUSH)).is_ok()
                {
                    let _ = c.stream.write_all(&c.pending);
                }
            }
        }
    }

    /// Forgets `app` (removed from the pod).
    pub fn remove(&mut self, pod_dir: &Path, app: &str) {
        self.points.retain(|p| p.app != app);
        let _ = std::fs::remove_file(pod_dir.join(attach_socket(app)));
    }
}

impl Point {
    /// Reads client `i`'s input into the app's stdin.
    fn input(&mut self, i: usize) -> Input {
        let mut buf = [0u8; 16 * 1024];
        let c = &mut self.clients[i];
        loop {
            match c.stream.read(&mut buf) {
                Ok(0) => return Input::Done,
                Ok(n) => {
                    if let Some(master) = &self.terminal {
                        c.partial.extend_from_slice(&buf[..n]);
                        if !terminal_input(&self.app, master, self.stdin.as_ref(), &mut c.partial) {
                            return Input::Gone;
                        }
                    } else if let Some(stdin) = &self.stdin {
                        to_stdin(&self.app, stdin, &buf[..n]);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return if c.flush() { Input::More } else { Input::Gone };
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Input::Gone,
            }
        }
    }

    /// A client's input ended: with `stdin_once`, the app's too (a
    /// terminal gets an end-of-file character, its master stays).
    fn input_ended(&mut self) {
        if !self.once {
            return;
        }
        if let (Some(_), Some(master)) = (&self.terminal, &self.stdin) {
            to_stdin(&self.app, master, &[4]);
        }
        self.stdin = None;
    }
}

/// Carries out the whole frames at the start of `partial`, a client's
/// input to an app with a terminal (`master`), and keeps the rest; false
/// for what is no terminal input.
fn terminal_input(
    app: &str,
    master: &OwnedFd,
    stdin: Option<&OwnedFd>,
    partial: &mut Vec<u8>,
) -> bool {
    let mut used = 0;
    loop {
        match TtyInput::decode(&partial[used..]) {
            Ok(Some((input, n))) => {
                match input {
                    TtyInput::Stdin(data) => {
                        if let Some(stdin) = stdin {
                            to_stdin(app, stdin, data);
                        }
                    }
                    TtyInput::Resize { rows, cols } => {
                        if let Err(e) = rukt_sys::pty::set_size(master, cols, rows) {
                            tracing::debug!(app, "cannot resize the terminal: {e}");
                        }
                    }
                }
                used += n;
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(app, "attach client dropped: {e}");
                return false;
            }
        }
    }
    partial.drain(..used);
    true
}

/// Writes a client's input to the app's stdin, or says it was dropped.
fn to_stdin(app: &str, stdin: &OwnedFd, data: &[u8]) {
    if !write_all_nonblocking(stdin, data) {
        tracing::warn!(app, "the app's stdin is full: input dropped");
    }
}

/// What reading a client's input found.
enum Input {
    /// Maybe more later.
    More,
    /// It closed its writing side (end of its input).
    Done,
    /// It is gone.
    Gone,
}

impl Client {
    /// Writes what it can of the pending output; false when the client is
    /// gone.
    fn flush(&mut self) -> bool {
        while !self.pending.is_empty() {
            match self.stream.write(&self.pending) {
                Ok(0) => return false,
                Ok(n) => {
                    self.pending.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        true
    }
}

/// Writes all of `data` to a non-blocking pipe; false if it filled up.
fn write_all_nonblocking(fd: &OwnedFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}
