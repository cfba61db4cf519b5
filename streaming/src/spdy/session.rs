//! One SPDY/3.1 server connection: a reader task that decodes frames,
//! answers every client stream with SYN_REPLY, echoes PINGs and hands new
//! streams to the protocol handler; a writer task that owns the socket's
//! write half and the header compressor, so frames leave in the order they
//! were queued (a SYN_REPLY always before the stream's first DATA).
//!
//! Back-pressure and memory: frames to send go through a bounded queue and
//! each stream's received data through a bounded queue too, so a slow peer
//! or a slow consumer stalls its sender instead of growing a buffer.
//! SPDY/3.1 windows are not enforced in either direction: spdystream, the
//! library behind kubelet, crictl and client-go, neither sends nor honours
//! WINDOW_UPDATE, and a server that waited for one would stall at 64 KiB.
//! TCP's own window is the flow control. Limits: at most `max_streams` live
//! streams per connection (more are refused with RST_STREAM), control frames
//! of at most 64 KiB, header blocks of at most 64 KiB decompressed.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, DuplexStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::frame::{self, FLAG_FIN, Frame, RST_REFUSED_STREAM};
use super::headers::{HeaderDecoder, HeaderEncoder, Headers};
use crate::backend::ClientGone;
use crate::pipe::{self, ChannelReader, QUEUE};

/// The largest DATA frame this server sends.
const CHUNK: usize = 64 * 1024;
/// GOAWAY status for a protocol error.
const GOAWAY_PROTOCOL_ERROR: u32 = 1;

/// What the writer task sends.
enum Out {
    Reply(u32),
    Data { id: u32, data: Vec<u8>, fin: bool },
    Rst { id: u32, status: u32 },
    Ping(u32),
    GoAway(u32),
    Close,
}

/// A stream the client opened.
pub(crate) struct Stream {
    pub id: u32,
    pub headers: Headers,
    pub input: Inbound,
    pub output: Outbound,
}

/// The client's data on one stream: ends at the client's FIN, its
/// RST_STREAM or the connection's end.
pub(crate) type Inbound = ChannelReader;

/// Sending on one stream: DATA in chunks, one FIN.
pub(crate) struct Outbound {
    id: u32,
    tx: mpsc::Sender<Out>,
    reset: watch::Receiver<bool>,
    finished: bool,
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the stream was reset or the connection closed",
    )
}

impl Outbound {
    /// Sends `data` (in frames of at most 32 KiB).
    pub(crate) async fn send(&mut self, data: &[u8]) -> io::Result<()> {
        for part in data.chunks(CHUNK) {
            if self.finished || self.is_reset() {
                return Err(gone());
            }
            let out = Out::Data {
                id: self.id,
                data: part.to_vec(),
                fin: false,
            };
            self.tx.send(out).await.map_err(|_| gone())?;
        }
        Ok(())
    }

    /// Ends our half of the stream (a DATA frame with FIN), once.
    pub(crate) async fn finish(&mut self) {
        if !self.finished && !self.is_reset() {
            self.finished = true;
            let _ = self
                .tx
                .send(Out::Data {
                    id: self.id,
                    data: Vec::new(),
                    fin: true,
                })
                .await;
        }
    }

    /// Sends `data` and ends the stream.
    pub(crate) async fn send_and_finish(&mut self, data: &[u8]) {
        let _ = self.send(data).await;
        self.finish().await;
    }

    /// Resets the stream (RST_STREAM CANCEL).
    pub(crate) async fn cancel(&mut self) {
        if !self.is_reset() {
            self.finished = true;
            let _ = self
                .tx
                .send(Out::Rst {
                    id: self.id,
                    status: frame::RST_CANCEL,
                })
                .await;
        }
    }

    /// Whether the client reset the stream or the connection ended.
    pub(crate) fn is_reset(&self) -> bool {
        *self.reset.borrow()
    }

    /// Waits until the client resets the stream or the connection ends.
    pub(crate) async fn reset_signal(&mut self) {
        let _ = self.reset.wait_for(|r| *r).await;
    }
}

/// Copies `from` to `out` until EOF, then FINs the stream; stops early if
/// the client resets it (the writer into `from` then sees a broken pipe).
pub(crate) async fn copy_to_stream<R: AsyncRead + Unpin>(mut from: R, out: &mut Outbound) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = tokio::select! {
            n = from.read(&mut buf) => n,
            () = out.reset_signal() => return,
        };
        match n {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if out.send(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    out.finish().await;
}

/// Moves what the backend writes into `pipe` (the other end of the duplex
/// it was handed) to `out`, in a task.
pub(crate) fn pump_to_stream(pipe: DuplexStream, mut out: Outbound) -> JoinHandle<()> {
    tokio::spawn(async move { copy_to_stream(pipe, &mut out).await })
}

/// What the reader keeps per live stream.
struct Entry {
    inbound: Option<mpsc::Sender<Vec<u8>>>,
    reset: watch::Sender<bool>,
}

impl Entry {
    fn live(&self) -> bool {
        self.reset.receiver_count() > 0 || self.inbound.as_ref().is_some_and(|s| !s.is_closed())
    }
}

/// A running SPDY connection.
pub(crate) struct Session {
    tx: mpsc::Sender<Out>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
    gone: ClientGone,
}

impl Session {
    /// Starts serving SPDY on `io` (after the 101 response); streams come
    /// out of the receiver as the client opens them, already replied to.
    pub(crate) fn start<S>(
        io: S,
        max_streams: usize,
        idle: Duration,
    ) -> (Session, mpsc::Receiver<Stream>)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (r, w) = tokio::io::split(io);
        let (tx, rx) = mpsc::channel(64);
        let (streams_tx, incoming) = mpsc::channel(16);
        let activity = pipe::Activity::new(idle);
        let writer = tokio::spawn(write_loop(w, rx, activity.clone()));
        let tx_reader = tx.clone();
        let (gone_tx, gone) = ClientGone::new();
        let reader = tokio::spawn(async move {
            read_loop(r, tx_reader, streams_tx, max_streams, activity).await;
            let _ = gone_tx.send(true);
        });
        (
            Session {
                tx,
                reader,
                writer,
                gone,
            },
            incoming,
        )
    }

    /// Resolves when the client's side of the connection ends.
    pub(crate) fn client_gone(&self) -> ClientGone {
        self.gone.clone()
    }

    /// Ends the connection: GOAWAY, our write side shut, then the client's
    /// remaining frames read (so closing does not reset what is in flight)
    /// for at most `linger`.
    pub(crate) async fn close(self, linger: Duration) {
        let Session {
            tx,
            mut reader,
            writer,
            ..
        } = self;
        let _ = tx.send(Out::GoAway(0)).await;
        let _ = tx.send(Out::Close).await;
        drop(tx);
        let _ = writer.await;
        if tokio::time::timeout(linger, &mut reader).await.is_err() {
            reader.abort();
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    w: W,
    rx: mpsc::Receiver<Out>,
    activity: pipe::Activity,
) {
    let mut headers = HeaderEncoder::default();
    pipe::write_batched(w, rx, activity, |out, buf| {
        let frame = match out {
            Out::Reply(stream_id) => Frame::SynReply {
                stream_id,
                flags: 0,
                block: headers.encode(&[]),
            },
            Out::Data { id, data, fin } => Frame::Data {
                stream_id: id,
                flags: if fin { FLAG_FIN } else { 0 },
                data,
            },
            Out::Rst { id, status } => Frame::RstStream {
                stream_id: id,
                status,
            },
            Out::Ping(id) => Frame::Ping { id },
            Out::GoAway(status) => Frame::GoAway {
                last_good: 0,
                status,
            },
            Out::Close => return true,
        };
        frame::encode(&frame, buf);
        false
    })
    .await;
}

struct Reader {
    out: mpsc::Sender<Out>,
    incoming: mpsc::Sender<Stream>,
    headers: HeaderDecoder,
    streams: HashMap<u32, Entry>,
    last_id: u32,
    going_away: bool,
    max_streams: usize,
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut r: R,
    out: mpsc::Sender<Out>,
    incoming: mpsc::Sender<Stream>,
    max_streams: usize,
    activity: pipe::Activity,
) {
    let mut reader = Reader {
        out,
        incoming,
        headers: HeaderDecoder::default(),
        streams: HashMap::new(),
        last_id: 0,
        going_away: false,
        max_streams,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    loop {
        match frame::decode(&buf) {
            Ok(Some((frame, used))) => {
                buf.drain(..used);
                if let Err(e) = reader.handle(frame).await {
                    tracing::debug!(error = %e, "spdy: closing the connection");
                    let _ = reader.out.send(Out::GoAway(GOAWAY_PROTOCOL_ERROR)).await;
                    break;
                }
            }
            Ok(None) => {
                if buf.capacity() - buf.len() < 16 * 1024 {
                    buf.reserve(64 * 1024);
                }
                match activity.read_buf(&mut r, &mut buf).await {
                    Err(e) if e.kind() == io::ErrorKind::TimedOut => {
                        // As spdystream's idle timeout: reset every stream, go away, close.
                        tracing::debug!("spdy: closing an idle connection");
                        for id in reader.streams.keys() {
                            let status = frame::RST_CANCEL;
                            let _ = reader.out.try_send(Out::Rst { id: *id, status });
                        }
                        let _ = reader.out.try_send(Out::GoAway(0));
                        let _ = reader.out.try_send(Out::Close);
                        break;
                    }
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "spdy: bad frame");
                let _ = reader.out.send(Out::GoAway(GOAWAY_PROTOCOL_ERROR)).await;
                break;
            }
        }
    }
    for entry in reader.streams.values() {
        let _ = entry.reset.send(true);
    }
}

impl Reader {
    async fn handle(&mut self, frame: Frame) -> Result<(), frame::FrameError> {
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                block,
                ..
            } => {
                let headers = self.headers.decode(&block)?;
                self.open(stream_id, flags, headers).await?;
            }
            Frame::SynReply { block, .. } => {
                self.headers.decode(&block)?;
            }
            Frame::Headers {
                stream_id,
                flags,
                block,
            } => {
                self.headers.decode(&block)?;
                if flags & FLAG_FIN != 0 {
                    self.end_input(stream_id);
                }
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => {
                if let Some(entry) = self.streams.get_mut(&stream_id)
                    && let Some(tx) = entry.inbound.as_ref()
                    && !data.is_empty()
                    && tx.send(data).await.is_err()
                {
                    entry.inbound = None;
                }
                if flags & FLAG_FIN != 0 {
                    self.end_input(stream_id);
                }
            }
            Frame::RstStream { stream_id, .. } => {
                if let Some(entry) = self.streams.remove(&stream_id) {
                    let _ = entry.reset.send(true);
                }
            }
            Frame::Ping { id } => {
                // Odd ids are the client's: echo them. Even ones answer ours (we send none).
                if id % 2 == 1 {
                    let _ = self.out.send(Out::Ping(id)).await;
                }
            }
            Frame::GoAway { .. } => self.going_away = true,
            Frame::Settings { .. } | Frame::WindowUpdate { .. } | Frame::Unknown { .. } => {}
        }
        Ok(())
    }

    fn end_input(&mut self, id: u32) {
        if let Some(entry) = self.streams.get_mut(&id) {
            entry.inbound = None;
        }
    }

    async fn open(
        &mut self,
        id: u32,
        flags: u8,
        headers: Headers,
    ) -> Result<(), frame::FrameError> {
        if id.is_multiple_of(2) || id <= self.last_id {
            return Err(frame::FrameError::Malformed("SYN_STREAM"));
        }
        self.last_id = id;
        self.streams.retain(|_, e| e.live());
        if self.going_away || self.streams.len() >= self.max_streams {
            let _ = self
                .out
                .send(Out::Rst {
                    id,
                    status: RST_REFUSED_STREAM,
                })
                .await;
            return Ok(());
        }
        let (in_tx, in_rx) = mpsc::channel(QUEUE);
        let (reset_tx, reset_rx) = watch::channel(false);
        let inbound = (flags & FLAG_FIN == 0).then_some(in_tx);
        self.streams.insert(
            id,
            Entry {
                inbound,
                reset: reset_tx,
            },
        );
        if self.out.send(Out::Reply(id)).await.is_err() {
            return Ok(());
        }
        let stream = Stream {
            id,
            headers,
            input: ChannelReader::new(in_rx),
            output: Outbound {
                id,
                tx: self.out.clone(),
                reset: reset_rx,
                finished: false,
            },
        };
        if let Err(refused) = self.incoming.send(stream).await {
            let mut stream = refused.0;
            stream.output.cancel().await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// Reads frames from the server until `want` matches one (or the connection ends).
    async fn expect(
        client: &mut DuplexStream,
        buf: &mut Vec<u8>,
        want: impl Fn(&Frame) -> bool,
    ) -> Option<Frame> {
        loop {
            while let Some((f, used)) = frame::decode(buf).unwrap() {
                buf.drain(..used);
                if want(&f) {
                    return Some(f);
                }
            }
            if client.read_buf(buf).await.unwrap() == 0 {
                return None;
            }
        }
    }

    fn syn(enc: &mut HeaderEncoder, id: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let block = enc.encode(&[("streamtype", "data"), ("requestid", &id.to_string())]);
        frame::encode(
            &Frame::SynStream {
                stream_id: id,
                associated_to: 0,
                priority: 0,
                flags: 0,
                block,
            },
            &mut out,
        );
        out
    }

    #[tokio::test]
    async fn streams_over_the_limit_are_refused_and_pings_echoed() {
        let (server, mut client) = tokio::io::duplex(1 << 20);
        let (_session, mut incoming) = Session::start(server, 3, Duration::from_secs(60));
        let mut enc = HeaderEncoder::default();
        for id in [1, 3, 5, 7] {
            client.write_all(&syn(&mut enc, id)).await.unwrap();
        }
        let mut ping = Vec::new();
        frame::encode(&Frame::Ping { id: 9 }, &mut ping);
        client.write_all(&ping).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(incoming.recv().await.unwrap());
        }
        assert_eq!(held.iter().map(|s| s.id).collect::<Vec<_>>(), [1, 3, 5]);
        let mut buf = Vec::new();
        let rst = expect(&mut client, &mut buf, |f| {
            matches!(f, Frame::RstStream { .. })
        })
        .await;
        assert_eq!(
            rst,
            Some(Frame::RstStream {
                stream_id: 7,
                status: RST_REFUSED_STREAM
            })
        );
        assert_eq!(
            expect(&mut client, &mut buf, |f| matches!(f, Frame::Ping { .. })).await,
            Some(Frame::Ping { id: 9 })
        );
        // Dropping a stream frees its place.
        held.pop();
        client.write_all(&syn(&mut enc, 11)).await.unwrap();
        assert_eq!(incoming.recv().await.unwrap().id, 11);
    }

    #[tokio::test]
    async fn a_corrupt_header_block_ends_the_connection_with_goaway() {
        let (server, mut client) = tokio::io::duplex(1 << 20);
        let (_session, _incoming) = Session::start(server, 8, Duration::from_secs(60));
        let mut bad = Vec::new();
        let frame = Frame::SynStream {
            stream_id: 1,
            associated_to: 0,
            priority: 0,
            flags: 0,
            block: b"junk".to_vec(),
        };
        frame::encode(&frame, &mut bad);
        client.write_all(&bad).await.unwrap();
        let mut buf = Vec::new();
        let goaway = expect(&mut client, &mut buf, |f| matches!(f, Frame::GoAway { .. })).await;
        assert_eq!(
            goaway,
            Some(Frame::GoAway {
                last_good: 0,
                status: GOAWAY_PROTOCOL_ERROR
            })
        );
    }

    #[tokio::test]
    async fn stream_ids_must_be_odd_and_rising() {
        for ids in [[2u32, 4], [5, 3]] {
            let (server, mut client) = tokio::io::duplex(1 << 20);
            let (_session, _incoming) = Session::start(server, 8, Duration::from_secs(60));
            let mut enc = HeaderEncoder::default();
            for id in ids {
                client.write_all(&syn(&mut enc, id)).await.unwrap();
            }
            let mut buf = Vec::new();
            let goaway = expect(&mut client, &mut buf, |f| matches!(f, Frame::GoAway { .. })).await;
            assert!(goaway.is_some(), "{ids:?}");
        }
    }
}
