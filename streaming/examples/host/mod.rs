//! A `Backend` that runs commands on the host and dials host ports: the
//! tests' stand-in for a container runtime (`@resize N` prints the first N
//! terminal sizes; attaching to `gone` fails, to `silent` waits for the
//! client to leave), shared by the client-go tests and the benchmark server.

use std::process::Stdio;

use rukt_streaming::{Backend, BoxError, ByteStream, Streams};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

/// Attaches to `silent` that reached the backend.
pub static SILENT_ATTACHES_STARTED: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);
/// Attaches to `silent` that ended because the client went away.
pub static SILENT_ATTACHES_ENDED: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

/// Runs commands on the host.
pub struct Host;

async fn copy_out(
    from: Option<impl tokio::io::AsyncRead + Unpin>,
    to: Option<Box<dyn AsyncWrite + Send + Unpin>>,
) {
    if let (Some(from), Some(mut to)) = (from, to) {
        // 64 KiB reads, as a runtime's copier should (tokio::io::copy reads 8 KiB).
        let mut from = tokio::io::BufReader::with_capacity(64 * 1024, from);
        let _ = tokio::io::copy_buf(&mut from, &mut to).await;
        let _ = to.shutdown().await;
    }
}

async fn run(cmd: &[String], streams: Streams) -> Result<i32, BoxError> {
    let Streams {
        stdin,
        stdout,
        stderr,
        resize,
        ..
    } = streams;
    if cmd[0] == "@resize" {
        let (mut resize, mut stdout) = (
            resize.ok_or("no resize stream")?,
            stdout.ok_or("no stdout")?,
        );
        for _ in 0..cmd[1].parse::<usize>()? {
            let size = resize.recv().await.ok_or("the resize stream ended")?;
            stdout
                .write_all(format!("{}x{}\n", size.width, size.height).as_bytes())
                .await?;
        }
        return Ok(0);
    }
    let mut child = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let child_in = child.stdin.take();
    let feed = async move {
        if let (Some(mut from), Some(mut to)) = (stdin, child_in) {
            let _ = tokio::io::copy(&mut from, &mut to).await;
        }
    };
    let (out, err) = (child.stdout.take(), child.stderr.take());
    tokio::spawn(feed);
    tokio::join!(copy_out(out, stdout), copy_out(err, stderr));
    Ok(child.wait().await?.code().unwrap_or(255))
}

impl Backend for Host {
    async fn exec(
        &self,
        _container: &str,
        cmd: &[String],
        _tty: bool,
        streams: Streams,
    ) -> Result<i32, BoxError> {
        run(cmd, streams).await
    }

    async fn attach(&self, container: &str, _tty: bool, streams: Streams) -> Result<(), BoxError> {
        match container {
            "gone" => Err("container gone is not running".into()),
            // A container that never writes: only the client's leaving ends the attach.
            "silent" => {
                SILENT_ATTACHES_STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut gone = streams.client_gone.clone();
                gone.wait().await;
                SILENT_ATTACHES_ENDED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            }
            _ => run(&["cat".to_string()], streams).await.map(drop),
        }
    }

    async fn port_forward(
        &self,
        _sandbox: &str,
        port: u16,
    ) -> Result<Box<dyn ByteStream>, BoxError> {
        Ok(Box::new(TcpStream::connect(("127.0.0.1", port)).await?))
    }
}
