//! The streaming half of `rukt cri`: the [`rukt_streaming::Backend`] behind
//! the URLs Exec, Attach and PortForward answer with. Exec runs the
//! engine's `enter` as a child with pipes (the command is confined like
//! the app, as for ExecSync); Attach connects to the app's attach socket
//! (`rukt_pods::attach`, frames of its output, its stdin); PortForward
//! dials the port on the pod's loopback from a thread that entered the
//! pod's network namespace (nspawn), or the pod's address from the host
//! (kvm: the guest has its own network stack). An exec with a tty gets a
//! pseudo-terminal ([`crate::pty`]) whose slave is `enter`'s stdio, sized
//! as the client asks. An attach to a container with a tty talks to its
//! terminal: the client's stdin and resizes go as frames
//! (`rukt_contract::attach::TtyInput`), its one output is stdout.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::sync::Arc;

use rukt_pods::EnterRequest;
use rukt_streaming::{Backend, BoxError, ByteStream, Streams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::ctx::Ctx;

/// The backend over the server's configuration.
#[derive(Clone)]
pub struct CriStreams {
    ctx: Arc<Ctx>,
}

impl CriStreams {
    /// The backend of `ctx`.
    pub fn new(ctx: Arc<Ctx>) -> CriStreams {
        CriStreams { ctx }
    }

    /// The pod and app name of container `id`.
    async fn container(&self, id: &str) -> Result<(rukt_pods::Pod, String), BoxError> {
        let ctx = self.ctx.clone();
        let id = id.to_string();
        tokio::task::spawn_blocking(move || {
            crate::container::find(&ctx, &id)
                .map_err(|s| BoxError::from(s.message().to_string()))?
                .map(|f| (f.pod, f.rec.app))
                .ok_or_else(|| BoxError::from(format!("no container {id:?}")))
        })
        .await?
    }
}

fn no_tty(id: &str) -> BoxError {
    format!("container {id} has no tty: attach without one").into()
}

/// Sends the client's input to the app: raw bytes, or for an app with a
/// terminal (`framed`) frames of them and of the client's resizes. The
/// end of the client's stdin ends the app's side (stdin_once).
async fn feed(
    mut to_app: tokio::net::unix::OwnedWriteHalf,
    mut stdin: Option<rukt_streaming::Reader>,
    mut sizes: Option<tokio::sync::mpsc::Receiver<rukt_streaming::TerminalSize>>,
    framed: bool,
) {
    use rukt_contract::attach::TtyInput;
    let mut buf = vec![0u8; 16 * 1024];
    let mut frame = Vec::new();
    while stdin.is_some() || sizes.is_some() {
        frame.clear();
        tokio::select! {
            n = async { stdin.as_mut().expect("checked").read(&mut buf).await }, if stdin.is_some() => {
                match n {
                    Ok(0) | Err(_) => {
                        let _ = to_app.shutdown().await;
                        return;
                    }
                    Ok(n) if framed => TtyInput::Stdin(&buf[..n]).encode(&mut frame),
                    Ok(n) => frame.extend_from_slice(&buf[..n]),
                }
            }
            s = async { sizes.as_mut().expect("checked").recv().await }, if sizes.is_some() => {
                match s {
                    Some(s) if framed => TtyInput::Resize { rows: s.height, cols: s.width }
                        .encode(&mut frame),
                    Some(_) => {}
                    None => sizes = None,
                }
            }
        }
        if to_app.write_all(&frame).await.is_err() {
            return;
        }
    }
}

/// A pipe end as a tokio reader.
fn reader(fd: impl Into<OwnedFd>) -> std::io::Result<tokio::net::unix::pipe::Receiver> {
    tokio::net::unix::pipe::Receiver::from_owned_fd(fd.into())
}

/// A pipe end as a tokio writer.
fn writer(fd: impl Into<OwnedFd>) -> std::io::Result<tokio::net::unix::pipe::Sender> {
    tokio::net::unix::pipe::Sender::from_owned_fd(fd.into())
}

/// Copies everything from `from` to `to`, 64 KiB at a time, then shuts
/// `to` (the client's copy of the stream ends).
async fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        to.write_all(&buf[..n]).await?;
    }
    to.shutdown().await
}

/// Waits for `enter` to end; kills it (it passes signals on to the
/// command) if the client leaves first.
async fn wait_or_kill(
    mut child: std::process::Child,
    mut gone: rukt_streaming::ClientGone,
) -> Result<std::process::ExitStatus, BoxError> {
    let pid = rustix::process::Pid::from_child(&child);
    let waited = tokio::task::spawn_blocking(move || child.wait());
    tokio::pin!(waited);
    Ok(tokio::select! {
        s = &mut waited => s??,
        () = gone.wait() => {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
            waited.await??
        }
    })
}

/// An exec with a terminal: `enter` on a pty's slave, the session on its
/// master, resizes applied to it.
async fn exec_tty(
    pod: &rukt_pods::Pod,
    req: &EnterRequest,
    mut streams: Streams,
) -> Result<i32, BoxError> {
    let (master, slave) = rukt_sys::pty::open()?;
    let sizer = master.try_clone()?;
    if let Some(mut sizes) = streams.resize.take() {
        // The first size comes with the session; `enter` reads it at start.
        if let Ok(Some(s)) =
            tokio::time::timeout(std::time::Duration::from_millis(200), sizes.recv()).await
        {
            let _ = rukt_sys::pty::set_size(&sizer, s.width, s.height);
        }
        tokio::spawn(async move {
            while let Some(s) = sizes.recv().await {
                let _ = rukt_sys::pty::set_size(&sizer, s.width, s.height);
            }
        });
    }
    let stdio = [
        Stdio::from(slave.try_clone()?),
        Stdio::from(slave.try_clone()?),
        Stdio::from(slave),
    ];
    let child = rukt_pods::enter::spawn(pod, req, stdio)?;
    let mut copies = Vec::new();
    if let Some(input) = streams.stdin {
        let to = crate::pty::Master::new(master.try_clone()?)?;
        copies.push(tokio::spawn(async move {
            let _ = pump(input, to).await;
        }));
    }
    if let Some(out) = streams.stdout {
        let from = crate::pty::Master::new(master)?;
        copies.push(tokio::spawn(async move {
            let _ = pump(from, out).await;
        }));
    }
    let status = wait_or_kill(child, streams.client_gone.clone()).await?;
    // The output ends with the master's EIO once `enter` has gone.
    for c in copies.into_iter().rev() {
        let done = tokio::time::timeout(std::time::Duration::from_secs(2), c).await;
        if done.is_err() {
            break;
        }
    }
    Ok(status.code().unwrap_or(137))
}

impl Backend for CriStreams {
    async fn exec(
        &self,
        container_id: &str,
        cmd: &[String],
        tty: bool,
        streams: Streams,
    ) -> Result<i32, BoxError> {
        let (pod, app) = self.container(container_id).await?;
        let req = EnterRequest {
            app: Some(app),
            command: cmd.to_vec(),
            debug: self.ctx.debug,
        };
        if tty {
            return exec_tty(&pod, &req, streams).await;
        }
        let pipe_if = |b: bool| if b { Stdio::piped() } else { Stdio::null() };
        let stdio = [
            pipe_if(streams.stdin.is_some()),
            pipe_if(streams.stdout.is_some()),
            pipe_if(streams.stderr.is_some()),
        ];
        let mut child = rukt_pods::enter::spawn(&pod, &req, stdio)?;
        let mut copies = Vec::new();
        if let (Some(input), Some(pipe)) = (streams.stdin, child.stdin.take()) {
            let to = writer(pipe)?;
            copies.push(tokio::spawn(async move {
                let _ = pump(input, to).await;
            }));
        }
        for (out, pipe) in [
            (streams.stdout, child.stdout.take().map(OwnedFd::from)),
            (streams.stderr, child.stderr.take().map(OwnedFd::from)),
        ] {
            if let (Some(out), Some(pipe)) = (out, pipe) {
                let from = reader(pipe)?;
                copies.push(tokio::spawn(async move {
                    let _ = pump(from, out).await;
                }));
            }
        }
        let status = wait_or_kill(child, streams.client_gone.clone()).await?;
        for c in copies {
            let _ = c.await;
        }
        Ok(status.code().unwrap_or(137))
    }

    async fn attach(
        &self,
        container_id: &str,
        tty: bool,
        mut streams: Streams,
    ) -> Result<(), BoxError> {
        let (pod, app) = self.container(container_id).await?;
        let attached = tokio::task::spawn_blocking(move || rukt_pods::attach::connect(&pod, &app))
            .await?
            .map_err(|e| BoxError::from(crate::error::chain(&e)))?;
        if tty && !attached.tty {
            return Err(no_tty(container_id));
        }
        let conn = attached.conn;
        conn.set_nonblocking(true)?;
        let conn = tokio::net::UnixStream::from_std(conn)?;
        let (mut from_app, to_app) = conn.into_split();
        let sizes = streams.resize.take();
        let input = (streams.stdin.is_some() || sizes.is_some())
            .then(|| tokio::spawn(feed(to_app, streams.stdin, sizes, attached.tty)));
        let (mut stdout, mut stderr) = (streams.stdout, streams.stderr);
        let mut gone = streams.client_gone;
        let output = async {
            let mut head = [0u8; 5];
            let mut data = vec![0u8; rukt_contract::attach::MAX_FRAME];
            loop {
                if from_app.read_exact(&mut head).await.is_err() {
                    return;
                }
                let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
                if len > data.len() || from_app.read_exact(&mut data[..len]).await.is_err() {
                    return;
                }
                let out = if head[0] == rukt_contract::attach::STDERR {
                    stderr.as_mut()
                } else {
                    stdout.as_mut()
                };
                if let Some(w) = out
                    && w.write_all(&data[..len]).await.is_err()
                {
                    return;
                }
            }
        };
        tokio::select! {
            () = output => {}
            () = gone.wait() => {}
        }
        if let Some(i) = input {
            i.abort();
        }
        for w in [stdout.as_mut(), stderr.as_mut()].into_iter().flatten() {
            let _ = w.shutdown().await;
        }
        Ok(())
    }

    async fn port_forward(
        &self,
        sandbox_id: &str,
        port: u16,
    ) -> Result<Box<dyn ByteStream>, BoxError> {
        let ctx = self.ctx.clone();
        let id = sandbox_id.to_string();
        let stream =
            tokio::task::spawn_blocking(move || -> Result<std::net::TcpStream, BoxError> {
                let (pod, rec) = crate::sandbox::find(&ctx, &id)
                    .map_err(|s| BoxError::from(s.message().to_string()))?
                    .ok_or_else(|| BoxError::from(format!("no sandbox {id:?}")))?;
                let status = rukt_pods::status(&pod);
                if rec.handler == "kvm" {
                    // The guest's own network stack: its address, from the host.
                    let ip = status
                        .networks
                        .iter()
                        .flat_map(|n| n.ips.iter())
                        .filter_map(|ip| ip.split('/').next()?.parse::<std::net::IpAddr>().ok())
                        .next()
                        .ok_or("the kvm sandbox has no address to forward to")?;
                    return Ok(std::net::TcpStream::connect((ip, port))?);
                }
                let pid = status.pid.ok_or("the sandbox is not running")?;
                let netns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
                // A thread of its own enters the pod's network namespace: the
                // socket stays in it when the thread ends.
                std::thread::spawn(move || -> Result<std::net::TcpStream, BoxError> {
                    rukt_net::netns::enter(&netns)?;
                    Ok(std::net::TcpStream::connect(("127.0.0.1", port))
                        .or_else(|_| std::net::TcpStream::connect(("::1", port)))?)
                })
                .join()
                .map_err(|_| BoxError::from("the port-forward thread panicked"))?
            })
            .await??;
        stream.set_nonblocking(true)?;
        Ok(Box::new(tokio::net::TcpStream::from_std(stream)?))
    }
}
