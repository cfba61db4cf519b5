//! The apps' stdout and stderr, owned by the supervisor: each app writes
//! into two pipes; the supervisor reads them in its poll loop, appends what
//! it read to `logs/<app>.log` ([`AppLog`], CRI entries timestamped at
//! read) and copies it to its own stdout or stderr (the caller's terminal,
//! a pipe, journald under a unit), once, and to the app's attach clients
//! in a mutable pod ([`crate::attach`]). An app with a tty has one
//! stream, its terminal's master, read and logged as its stdout
//! ([`Output::add_terminal`]). An interactive app's terminal is the relay's
//! ([`crate::console`]) and is not logged.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use anyhow::Context;
use rukt_contract::logfmt::{LogOptions, Stream};
use rukt_contract::runtime::applog::AppLog;
use rustix::io::Errno;

/// How much is read from a pipe at a time (and the pipes' size).
const CHUNK: usize = 64 * 1024;
/// The pipes' capacity, so a burst does not stop the app at once.
const PIPE_SIZE: usize = 1024 * 1024;
/// A read of at least this much that still emptied its pipe comes from an
/// app writing without pause (a line now and then is far less).
const BUSY: usize = 4 * 1024;
/// How long such an app's output is left to gather before the next read:
/// woken by each of its writes, the supervisor would otherwise read a few KiB
/// at a time and spend its CPU switching in and out (`bench/logs.sh`). The
/// pipe holds 1 MiB, so the app does not wait; its lines are read (and
/// timestamped) at most this much later. Longer gathers cost throughput
/// (the output is colder when read: 0.5 ms 0.9x, 1 ms 0.84x of 0.2 ms's),
/// shorter ones CPU (docs/logs.md).
const GATHER: std::time::Duration = std::time::Duration::from_micros(100);

/// The read end of one app stream.
struct Pipe {
    app: usize,
    stream: Stream,
    read: OwnedFd,
}

/// The pod's log files and the pipes feeding them.
#[derive(Default)]
pub struct Output {
    /// Each app's name and log; `None` once the app was removed.
    logs: Vec<(String, Option<AppLog>)>,
    attach: crate::attach::Attach,
    /// Keep the output off the supervisor's own stdout and stderr (a
    /// mutable pod's: its apps' output is in their logs and attach points).
    quiet: bool,
    pipes: Vec<Pipe>,
    buf: Vec<u8>,
}

impl Output {
    /// Opens `app`'s log and makes its pipes; returns their write ends
    /// (stdout, stderr) for the app.
    pub fn add(
        &mut self,
        pod_dir: &Path,
        app: &rukt_contract::App,
        options: LogOptions,
    ) -> anyhow::Result<(OwnedFd, OwnedFd)> {
        let index = self.open_log(pod_dir, app, options)?;
        let app = &app.name;
        let mut ends = Vec::new();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                .with_context(|| format!("app {app}: cannot make its output pipes"))?;
            let _ = rustix::pipe::fcntl_setpipe_size(&read, PIPE_SIZE);
            rustix::fs::fcntl_setfl(&read, rustix::fs::OFlags::NONBLOCK)
                .context("cannot make a pipe non-blocking")?;
            self.pipes.push(Pipe {
                app: index,
                stream,
                read,
            });
            ends.push(write);
        }
        let stderr = ends.pop().expect("two pipes");
        Ok((ends.pop().expect("two pipes"), stderr))
    }

    /// Opens `app`'s log; returns its index.
    fn open_log(
        &mut self,
        pod_dir: &Path,
        app: &rukt_contract::App,
        options: LogOptions,
    ) -> anyhow::Result<usize> {
        let log = AppLog::for_app(pod_dir, app, options)
            .with_context(|| format!("app {}: cannot open its log file", app.name))?;
        self.logs.push((app.name.clone(), Some(log)));
        Ok(self.logs.len() - 1)
    }

    /// Opens the log of `app`, which has a tty whose `master` the
    /// supervisor keeps: what the app writes there is its stdout, read
    /// until the app's side is closed (EIO); its attach point gets the
    /// master for its clients' input and resizes.
    pub fn add_terminal(
        &mut self,
        pod_dir: &Path,
        app: &rukt_contract::App,
        options: LogOptions,
        master: OwnedFd,
    ) -> anyhow::Result<()> {
        let index = self.open_log(pod_dir, app, options)?;
        rustix::fs::fcntl_setfl(&master, rustix::fs::OFlags::NONBLOCK)
            .context("cannot make the terminal non-blocking")?;
        self.attach
            .terminal(app, &master)
            .with_context(|| format!("app {}: cannot hand its terminal on", app.name))?;
        self.pipes.push(Pipe {
            app: index,
            stream: Stream::Stdout,
            read: master,
        });
        Ok(())
    }

    /// The output of a pod whose apps' output stays off the supervisor's
    /// own stdout and stderr when `quiet`.
    pub fn new(quiet: bool) -> Output {
        Output {
            quiet,
            ..Output::default()
        }
    }

    /// Opens `app`'s attach point (a mutable pod's app); returns the read
    /// end of its stdin pipe when it asked for one.
    pub fn attach_point(
        &mut self,
        pod_dir: &Path,
        app: &rukt_contract::App,
    ) -> anyhow::Result<Option<OwnedFd>> {
        self.attach
            .open(pod_dir, app)
            .with_context(|| format!("app {}: cannot open its attach socket", app.name))
    }

    /// The descriptors to poll, in the order [`Output::ready`] takes: the
    /// pipes, then the attach points'.
    pub fn fds(&self) -> impl Iterator<Item = BorrowedFd<'_>> {
        self.pipes
            .iter()
            .map(|p| p.read.as_fd())
            .chain(self.attach.fds())
    }

    /// Reads what pipe `index` of [`Output::fds`] holds (a pipe whose
    /// writers are all gone is closed, and once an app's are both, its
    /// attach clients are let go; a busy app's output is then left to
    /// gather for [`GATHER`]), or serves an attach descriptor.
    pub fn ready(&mut self, index: usize) {
        if index >= self.pipes.len() {
            self.attach.ready(index - self.pipes.len());
            return;
        }
        let Some(n) = self.read_once(index) else {
            let app = self.pipes.remove(index).app;
            if !self.pipes.iter().any(|p| p.app == app) {
                let name = self.logs[app].0.clone();
                self.attach.done(&name);
            }
            return;
        };
        if (BUSY..CHUNK).contains(&n) {
            // rustix's direct call rather than libc's (`crate::memory`).
            let _ = rustix::thread::nanosleep(&rustix::thread::Timespec {
                tv_sec: 0,
                tv_nsec: GATHER.as_nanos() as _,
            });
        }
    }

    /// One read: how much it read (0 when there was nothing), `None` at end
    /// of file.
    fn read_once(&mut self, index: usize) -> Option<usize> {
        let pipe = &self.pipes[index];
        if self.buf.len() < CHUNK {
            self.buf.resize(CHUNK, 0);
        }
        match rustix::io::read(&pipe.read, &mut self.buf[..]) {
            Ok(0) => None,
            Ok(n) => {
                let data = &self.buf[..n];
                let (name, log) = &mut self.logs[pipe.app];
                if let Some(log) = log {
                    log.record(pipe.stream, data);
                }
                let tag = match pipe.stream {
                    Stream::Stdout => rukt_contract::attach::STDOUT,
                    Stream::Stderr => rukt_contract::attach::STDERR,
                };
                self.attach.output(name, tag, data);
                if !self.quiet {
                    copy_to_caller(pipe.stream, data);
                }
                Some(n)
            }
            Err(Errno::AGAIN | Errno::INTR) => Some(0),
            // A terminal's master once the app's side is closed.
            Err(Errno::IO) => None,
            Err(e) => {
                tracing::warn!("cannot read an app's output: {e}");
                None
            }
        }
    }

    /// Reads whatever the pipes still hold, once the apps are gone: in the
    /// pipes' order, each app's stdout before its stderr, as the poll loop
    /// takes them (an app that wrote a line to each and exited before either
    /// was read has them logged in the order it wrote them).
    pub fn drain(&mut self) {
        for i in 0..self.pipes.len() {
            for _ in 0..4096 {
                let before = self.pending(i);
                if before == 0 || self.read_once(i).is_none() {
                    break;
                }
            }
        }
        for log in self.logs.iter().filter_map(|(_, l)| l.as_ref()) {
            if log.dropped() > 0 {
                tracing::warn!("{} bytes of app output could not be logged", log.dropped());
            }
        }
    }

    /// Bytes waiting in pipe `i`.
    fn pending(&self, i: usize) -> usize {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one int into `n`.
        let r = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&self.pipes[i].read),
                libc::FIONREAD,
                &mut n,
            )
        };
        if r == 0 { n.max(0) as usize } else { 0 }
    }

    /// Reopens every log file (`SIGUSR1`: after an outside rotation).
    pub fn reopen(&mut self) {
        self.logs
            .iter_mut()
            .filter_map(|(_, l)| l.as_mut())
            .for_each(AppLog::reopen);
    }

    /// Closes the log and attach point of `app`, removed from the pod (its
    /// pipes ended with it).
    pub fn remove(&mut self, pod_dir: &Path, app: &str) {
        self.attach.remove(pod_dir, app);
        for (name, log) in &mut self.logs {
            if name == app {
                *log = None;
            }
        }
    }
}

/// Copies app output to the supervisor's own stdout or stderr; a caller
/// that went away (a closed pipe) loses it, as the app's own write would.
fn copy_to_caller(stream: Stream, mut data: &[u8]) {
    let fd = match stream {
        Stream::Stdout => rustix::stdio::stdout(),
        Stream::Stderr => rustix::stdio::stderr(),
    };
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(0) => return,
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) => {}
            Err(_) => return,
        }
    }
}
