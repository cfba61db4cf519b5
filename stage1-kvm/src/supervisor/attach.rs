//! Attaching to a mutable kvm pod's apps (`rukt_contract::attach`): each
//! added app has a socket `stage1/attach/<app>` (0600) the supervisor
//! polls; a client gets the app's output frames from then on (the guest's
//! `Stdout`/`Stderr` frames, re-framed), and what it writes goes to the
//! app's stdin as `Stdin` frames when the app was added with `--stdin`
//! (its end of input ends the app's stdin with `--stdin-once`). Writes to
//! clients never block the loop: a client more than [`MAX_BACKLOG`] behind
//! is dropped. The app's connections close once its exit is reported.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};

use rukt_contract::attach::{MAX_FRAME, STDERR, STDOUT, attach_socket, encode};

/// The most output kept for a slow client.
const MAX_BACKLOG: usize = 1 << 20;

struct Client {
    serial: u64,
    stream: UnixStream,
    backlog: Vec<u8>,
    reading: bool,
}

/// One app's attach point.
struct Point {
    name: String,
    listener: UnixListener,
    clients: Vec<Client>,
    stdin: bool,
    stdin_once: bool,
    stdin_closed: bool,
}

/// What to poll: an app's listener or one of its clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// App `id`'s listener.
    Listener(u32),
    /// Client `serial` of app `id`.
    Client(u32, u64),
}

/// The attach points of a mutable pod's apps, by app id.
#[derive(Default)]
pub struct Attach {
    points: BTreeMap<u32, Point>,
    serial: u64,
}

impl Attach {
    /// Listens on `stage1/attach/<app>` for app `id`.
    pub fn open(&mut self, id: u32, app: &rukt_contract::App) -> io::Result<()> {
        let path = attach_socket(&app.name);
        if let Some(dir) = std::path::Path::new(&path).parent() {
            std::fs::create_dir_all(dir)?;
        }
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        self.points.insert(
            id,
            Point {
                name: app.name.clone(),
                listener,
                clients: Vec::new(),
                stdin: app.stdin,
                stdin_once: app.stdin_once,
                stdin_closed: false,
            },
        );
        Ok(())
    }

    /// Closes app `id`'s attach point and its connections.
    pub fn close(&mut self, id: u32) {
        if let Some(p) = self.points.remove(&id) {
            let _ = std::fs::remove_file(attach_socket(&p.name));
        }
    }

    /// The descriptors to poll for input.
    pub fn pollable(&self) -> Vec<(Token, BorrowedFd<'_>)> {
        let mut v = Vec::new();
        for (id, p) in &self.points {
            v.push((Token::Listener(*id), p.listener.as_fd()));
            for c in &p.clients {
                if c.reading {
                    v.push((Token::Client(*id, c.serial), c.stream.as_fd()));
                }
            }
        }
        v
    }

    /// Handles a ready descriptor; the bytes for app `id`'s stdin, if any
    /// (empty: its end of file).
    pub fn ready(&mut self, token: Token) -> Option<(u32, Vec<u8>)> {
        match token {
            Token::Listener(id) => {
                let p = self.points.get_mut(&id)?;
                while let Ok((stream, _)) = p.listener.accept() {
                    if stream.set_nonblocking(true).is_ok() {
                        self.serial += 1;
                        p.clients.push(Client {
                            serial: self.serial,
                            stream,
                            backlog: Vec::new(),
                            reading: true,
                        });
                    }
                }
                None
            }
            Token::Client(id, serial) => {
                let p = self.points.get_mut(&id)?;
                let c = p.clients.iter_mut().find(|c| c.serial == serial)?;
                let mut buf = vec![0u8; 64 * 1024];
                let n = match c.stream.read(&mut buf) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                    Err(_) => 0,
                };
                if n == 0 {
                    c.reading = false;
                    if p.stdin && p.stdin_once && !p.stdin_closed {
                        p.stdin_closed = true;
                        return Some((id, Vec::new()));
                    }
                    return None;
                }
                (p.stdin && !p.stdin_closed).then(|| (id, buf[..n].to_vec()))
            }
        }
    }

    /// Passes app `id`'s output to its clients.
    pub fn output(&mut self, id: u32, stderr: bool, data: &[u8]) {
        let Some(p) = self.points.get_mut(&id) else {
            return;
        };
        let mut frames = Vec::new();
        for chunk in data.chunks(MAX_FRAME) {
            encode(if stderr { STDERR } else { STDOUT }, chunk, &mut frames);
        }
        p.clients.retain_mut(|c| {
            c.backlog.extend_from_slice(&frames);
            flush(c) && c.backlog.len() <= MAX_BACKLOG
        });
    }

    /// App `id` exited: what its clients can still take goes out (briefly
    /// blocking), then they are closed.
    pub fn app_exited(&mut self, id: u32) {
        let Some(p) = self.points.get_mut(&id) else {
            return;
        };
        for mut c in p.clients.drain(..) {
            let _ = c.stream.set_nonblocking(false);
            let _ = c
                .stream
                .set_write_timeout(Some(std::time::Duration::from_secs(1)));
            let _ = c.stream.write_all(&c.backlog);
        }
    }
}

/// Writes what `c` can take now; false when it is gone.
fn flush(c: &mut Client) -> bool {
    while !c.backlog.is_empty() {
        match c.stream.write(&c.backlog) {
            Ok(0) => return false,
            Ok(n) => {
                c.backlog.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}
