//! Exec and attach over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`):
//! every binary message starts with its channel byte (0 stdin, 1 stdout,
//! 2 stderr, 3 error, 4 resize); `[255, 0]` from the client closes stdin
//! (v5). The outcome goes on channel 3 as a `metav1.Status`, then a normal
//! close frame ends the connection.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::conn::{self, Piece, WsOut, WsReader};
use crate::backend::{Backend, ClientGone, Streams};
use crate::outcome;
use crate::pipe::{self, ChannelReader, QUEUE};
use crate::request::Request;
use crate::server::Config;

/// The channel protocols served over WebSocket, best first.
pub(crate) const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// Serves one exec or attach session on an upgraded connection.
pub(crate) async fn serve<S, B>(io: S, request: Request, backend: &B, config: &Config)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
    B: Backend,
{
    let (reader, out, writer) = conn::start(io, config.idle_timeout);
    let (tty, stdin, stdout, stderr) = request.stream_flags();
    let (gone_tx, client_gone) = ClientGone::new();
    let mut streams = Streams {
        stdin: None,
        stdout: None,
        stderr: None,
        resize: None,
        client_gone,
    };
    let (stdin_tx, stdin_rx) = mpsc::channel(QUEUE);
    if stdin {
        streams.stdin = Some(Box::new(ChannelReader::new(stdin_rx)));
    }
    let (resize_tx, resize_rx) = mpsc::channel(QUEUE);
    if tty {
        let (tx, rx) = mpsc::channel(16);
        streams.resize = Some(rx);
        tokio::spawn(outcome::forward_sizes(ChannelReader::new(resize_rx), tx));
    }
    let mut pumps = Vec::new();
    for (want, channel, slot) in [
        (stdout, STDOUT, &mut streams.stdout),
        (stderr && !tty, STDERR, &mut streams.stderr),
    ] {
        if want {
            let (backend_side, pump_side) = pipe::duplex();
            pumps.push(pump(pump_side, channel, out.clone()));
            *slot = Some(Box::new(backend_side));
        }
    }
    let (stdin_tx, resize_tx) = (stdin.then_some(stdin_tx), tty.then_some(resize_tx));
    let demux = tokio::spawn(async move {
        demux(reader, stdin_tx, resize_tx).await;
        let _ = gone_tx.send(true);
    });
    let result = outcome::run(backend, &request, streams).await;
    for p in pumps {
        let _ = p.await;
    }
    let mut message = vec![ERROR];
    message.extend_from_slice(&result.status_json());
    let _ = out.send(WsOut::Binary(message)).await;
    // The demultiplexer keeps reading: it sees the client's close answer.
    let _ = out.send(WsOut::Close(1000)).await;
    drop(out);
    let _ = writer.await;
    if tokio::time::timeout(config.linger, demux).await.is_err() {
        tracing::debug!("websocket: the client did not answer the close");
    }
}

/// Copies what the backend writes into `pipe` to channel `channel`.
fn pump(mut pipe: DuplexStream, channel: u8, out: mpsc::Sender<WsOut>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        buf[0] = channel;
        while let Ok(n @ 1..) = pipe.read(&mut buf[1..]).await {
            if out.send(WsOut::Binary(buf[..=n].to_vec())).await.is_err() {
                return;
            }
        }
    })
}

/// Routes the client's messages to stdin and resize until it closes.
async fn demux<R: AsyncRead + Unpin>(
    mut reader: WsReader<R>,
    mut stdin: Option<mpsc::Sender<Vec<u8>>>,
    mut resize: Option<mpsc::Sender<Vec<u8>>>,
) {
    let mut channel = None;
    loop {
        let (start, mut data) = match reader.next().await {
            Piece::Data { start, data } => (start, data),
            Piece::End => return,
        };
        if start {
            if data.is_empty() {
                channel = None;
                continue;
            }
            channel = Some(data.remove(0));
        }
        let target = match channel {
            Some(STDIN) => &mut stdin,
            Some(RESIZE) => &mut resize,
            Some(CLOSE) => {
                match data.first() {
                    Some(&STDIN) => stdin = None,
                    Some(&RESIZE) => resize = None,
                    _ => {}
                }
                continue;
            }
            _ => continue,
        };
        if let Some(tx) = target.as_ref()
            && !data.is_empty()
            && tx.send(data).await.is_err()
        {
            *target = None;
        }
    }
}
