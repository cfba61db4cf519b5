//! SPDY/3.1 frames on the wire: decoding from a byte buffer and encoding
//! into one. Header blocks stay compressed here (`headers.rs` owns the zlib
//! state, which must see every block of a connection in order). Decoding
//! never panics: a short buffer asks for more bytes, anything malformed or
//! over the limits is a [`FrameError`].

use thiserror::Error;

/// The SPDY version every control frame must carry.
pub(crate) const VERSION: u16 = 3;
/// The largest DATA payload the 24-bit length allows, and so the largest we accept.
pub(crate) const MAX_DATA: usize = 0xff_ffff;
/// The largest control frame we accept (header blocks of a few streams' worth).
pub(crate) const MAX_CONTROL: usize = 64 * 1024;

/// FLAG_FIN: the sender's half of the stream ends with this frame.
pub(crate) const FLAG_FIN: u8 = 0x01;
/// RST_STREAM status codes (SPDY/3 section 2.4.2) this server sends.
pub(crate) const RST_REFUSED_STREAM: u32 = 3;
pub(crate) const RST_CANCEL: u32 = 5;

const TYPE_SYN_STREAM: u16 = 1;
const TYPE_SYN_REPLY: u16 = 2;
const TYPE_RST_STREAM: u16 = 3;
const TYPE_SETTINGS: u16 = 4;
const TYPE_PING: u16 = 6;
const TYPE_GOAWAY: u16 = 7;
const TYPE_HEADERS: u16 = 8;
const TYPE_WINDOW_UPDATE: u16 = 9;

/// One SPDY/3.1 frame. `block` fields hold a compressed header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Frame {
    SynStream {
        stream_id: u32,
        associated_to: u32,
        priority: u8,
        flags: u8,
        block: Vec<u8>,
    },
    SynReply {
        stream_id: u32,
        flags: u8,
        block: Vec<u8>,
    },
    RstStream {
        stream_id: u32,
        status: u32,
    },
    Settings {
        flags: u8,
        entries: Vec<Setting>,
    },
    Ping {
        id: u32,
    },
    GoAway {
        last_good: u32,
        status: u32,
    },
    Headers {
        stream_id: u32,
        flags: u8,
        block: Vec<u8>,
    },
    WindowUpdate {
        stream_id: u32,
        delta: u32,
    },
    Data {
        stream_id: u32,
        flags: u8,
        data: Vec<u8>,
    },
    /// A control frame of a type SPDY/3.1 does not define: ignored, as the
    /// specification asks.
    Unknown {
        kind: u16,
    },
}

/// One SETTINGS entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Setting {
    pub flags: u8,
    pub id: u32,
    pub value: u32,
}

/// A frame that cannot be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FrameError {
    /// A control frame of another SPDY version.
    #[error("unsupported SPDY version {0}")]
    Version(u16),
    /// A frame longer than this server accepts.
    #[error("frame of {len} bytes is over the limit of {max}")]
    TooLong { len: usize, max: usize },
    /// A frame whose fields contradict its length or the protocol.
    #[error("malformed {0} frame")]
    Malformed(&'static str),
    /// A header block that does not decompress or parse.
    #[error("bad header block: {0}")]
    Headers(&'static str),
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Decodes the first frame of `buf`: `Ok(None)` when more bytes are
/// needed, else the frame and how many bytes it took.
pub(crate) fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let word = be32(buf);
    let flags = buf[4];
    let len = (be32(&buf[4..]) & 0xff_ffff) as usize;
    let control = word & 0x8000_0000 != 0;
    let max = if control { MAX_CONTROL } else { MAX_DATA };
    if len > max {
        return Err(FrameError::TooLong { len, max });
    }
    if buf.len() < 8 + len {
        return Ok(None);
    }
    let body = &buf[8..8 + len];
    let frame = if control {
        let version = ((word >> 16) & 0x7fff) as u16;
        if version != VERSION {
            return Err(FrameError::Version(version));
        }
        control_frame((word & 0xffff) as u16, flags, body)?
    } else {
        let stream_id = word & 0x7fff_ffff;
        if stream_id == 0 {
            return Err(FrameError::Malformed("DATA"));
        }
        Frame::Data {
            stream_id,
            flags,
            data: body.to_vec(),
        }
    };
    Ok(Some((frame, 8 + len)))
}

fn stream_id(body: &[u8], what: &'static str) -> Result<u32, FrameError> {
    if body.len() < 4 {
        return Err(FrameError::Malformed(what));
    }
    match be32(body) & 0x7fff_ffff {
        0 => Err(FrameError::Malformed(what)),
        id => Ok(id),
    }
}

fn exact(body: &[u8], len: usize, what: &'static str) -> Result<(), FrameError> {
    if body.len() == len {
        Ok(())
    } else {
        Err(FrameError::Malformed(what))
    }
}

fn control_frame(kind: u16, flags: u8, body: &[u8]) -> Result<Frame, FrameError> {
    Ok(match kind {
        TYPE_SYN_STREAM => {
            if body.len() < 10 {
                return Err(FrameError::Malformed("SYN_STREAM"));
            }
            Frame::SynStream {
                stream_id: stream_id(body, "SYN_STREAM")?,
                associated_to: be32(&body[4..]) & 0x7fff_ffff,
                priority: body[8] >> 5,
                flags,
                block: body[10..].to_vec(),
            }
        }
        TYPE_SYN_REPLY => Frame::SynReply {
            stream_id: stream_id(body, "SYN_REPLY")?,
            flags,
            block: body[4..].to_vec(),
        },
        TYPE_HEADERS => Frame::Headers {
            stream_id: stream_id(body, "HEADERS")?,
            flags,
            block: body[4..].to_vec(),
        },
        TYPE_RST_STREAM => {
            exact(body, 8, "RST_STREAM")?;
            Frame::RstStream {
                stream_id: stream_id(body, "RST_STREAM")?,
                status: be32(&body[4..]),
            }
        }
        TYPE_SETTINGS => {
            if body.len() < 4 {
                return Err(FrameError::Malformed("SETTINGS"));
            }
            let n = be32(body) as usize;
            if n > (body.len() - 4) / 8 || body.len() != 4 + n * 8 {
                return Err(FrameError::Malformed("SETTINGS"));
            }
            let entries = body[4..]
                .chunks_exact(8)
                .map(|e| Setting {
                    flags: e[0],
                    id: be32(e) & 0xff_ffff,
                    value: be32(&e[4..]),
                })
                .collect();
            Frame::Settings { flags, entries }
        }
        TYPE_PING => {
            exact(body, 4, "PING")?;
            Frame::Ping { id: be32(body) }
        }
        TYPE_GOAWAY => {
            exact(body, 8, "GOAWAY")?;
            Frame::GoAway {
                last_good: be32(body) & 0x7fff_ffff,
                status: be32(&body[4..]),
            }
        }
        TYPE_WINDOW_UPDATE => {
            exact(body, 8, "WINDOW_UPDATE")?;
            Frame::WindowUpdate {
                stream_id: be32(body) & 0x7fff_ffff,
                delta: be32(&body[4..]) & 0x7fff_ffff,
            }
        }
        kind => Frame::Unknown { kind },
    })
}

fn control_head(out: &mut Vec<u8>, kind: u16, flags: u8, len: usize) {
    out.extend_from_slice(
        &(0x8000_0000u32 | (u32::from(VERSION) << 16) | u32::from(kind)).to_be_bytes(),
    );
    out.extend_from_slice(&((u32::from(flags) << 24) | len as u32).to_be_bytes());
}

/// Appends `frame` to `out`. Lengths over the 24-bit field are the caller's
/// bug (DATA is chunked below [`MAX_DATA`] by the writers).
pub(crate) fn encode(frame: &Frame, out: &mut Vec<u8>) {
    match frame {
        Frame::SynStream {
            stream_id,
            associated_to,
            priority,
            flags,
            block,
        } => {
            control_head(out, TYPE_SYN_STREAM, *flags, 10 + block.len());
            out.extend_from_slice(&stream_id.to_be_bytes());
            out.extend_from_slice(&associated_to.to_be_bytes());
            out.extend_from_slice(&[priority << 5, 0]);
            out.extend_from_slice(block);
        }
        Frame::SynReply {
            stream_id,
            flags,
            block,
        } => {
            control_head(out, TYPE_SYN_REPLY, *flags, 4 + block.len());
            out.extend_from_slice(&stream_id.to_be_bytes());
            out.extend_from_slice(block);
        }
        Frame::Headers {
            stream_id,
            flags,
            block,
        } => {
            control_head(out, TYPE_HEADERS, *flags, 4 + block.len());
            out.extend_from_slice(&stream_id.to_be_bytes());
            out.extend_from_slice(block);
        }
        Frame::RstStream { stream_id, status } => {
            control_head(out, TYPE_RST_STREAM, 0, 8);
            out.extend_from_slice(&stream_id.to_be_bytes());
            out.extend_from_slice(&status.to_be_bytes());
        }
        Frame::Settings { flags, entries } => {
            control_head(out, TYPE_SETTINGS, *flags, 4 + 8 * entries.len());
            out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
            for e in entries {
                out.extend_from_slice(&((u32::from(e.flags) << 24) | e.id).to_be_bytes());
                out.extend_from_slice(&e.value.to_be_bytes());
            }
        }
        Frame::Ping { id } => {
            control_head(out, TYPE_PING, 0, 4);
            out.extend_from_slice(&id.to_be_bytes());
        }
        Frame::GoAway { last_good, status } => {
            control_head(out, TYPE_GOAWAY, 0, 8);
            out.extend_from_slice(&last_good.to_be_bytes());
            out.extend_from_slice(&status.to_be_bytes());
        }
        Frame::WindowUpdate { stream_id, delta } => {
            control_head(out, TYPE_WINDOW_UPDATE, 0, 8);
            out.extend_from_slice(&stream_id.to_be_bytes());
            out.extend_from_slice(&delta.to_be_bytes());
        }
        Frame::Data {
            stream_id,
            flags,
            data,
        } => {
            out.extend_from_slice(&stream_id.to_be_bytes());
            out.extend_from_slice(&((u32::from(*flags) << 24) | data.len() as u32).to_be_bytes());
            out.extend_from_slice(data);
        }
        Frame::Unknown { kind } => control_head(out, *kind, 0, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frame: Frame) {
        let mut buf = Vec::new();
        encode(&frame, &mut buf);
        buf.extend_from_slice(b"rest");
        let (back, used) = decode(&buf).unwrap().unwrap();
        assert_eq!(back, frame);
        assert_eq!(used, buf.len() - 4);
        for cut in 0..used {
            assert_eq!(
                decode(&buf[..cut]).unwrap(),
                None,
                "a prefix of {cut} bytes needs more"
            );
        }
    }

    #[test]
    fn every_frame_round_trips() {
        round_trip(Frame::SynStream {
            stream_id: 7,
            associated_to: 3,
            priority: 5,
            flags: FLAG_FIN,
            block: vec![1, 2, 3],
        });
        round_trip(Frame::SynReply {
            stream_id: 1,
            flags: 0,
            block: vec![9; 40],
        });
        round_trip(Frame::Headers {
            stream_id: 9,
            flags: FLAG_FIN,
            block: vec![],
        });
        round_trip(Frame::RstStream {
            stream_id: 5,
            status: RST_CANCEL,
        });
        round_trip(Frame::Settings {
            flags: 1,
            entries: vec![
                Setting {
                    flags: 1,
                    id: 7,
                    value: 65536,
                },
                Setting {
                    flags: 0,
                    id: 4,
                    value: 100,
                },
            ],
        });
        round_trip(Frame::Ping { id: 2 });
        round_trip(Frame::GoAway {
            last_good: 11,
            status: 0,
        });
        round_trip(Frame::WindowUpdate {
            stream_id: 3,
            delta: 1 << 20,
        });
        round_trip(Frame::Data {
            stream_id: 3,
            flags: FLAG_FIN,
            data: b"hello".to_vec(),
        });
        round_trip(Frame::Data {
            stream_id: 1,
            flags: 0,
            data: vec![],
        });
        round_trip(Frame::Unknown { kind: 10 });
    }

    fn control(kind: u16, flags: u8, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        control_head(&mut out, kind, flags, body.len());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn malformed_frames_are_errors() {
        let cases: Vec<(Vec<u8>, FrameError)> = vec![
            (
                control(TYPE_RST_STREAM, 0, &[0, 0, 0, 1]),
                FrameError::Malformed("RST_STREAM"),
            ),
            (
                control(TYPE_RST_STREAM, 0, &[0, 0, 0, 0, 0, 0, 0, 1]),
                FrameError::Malformed("RST_STREAM"),
            ),
            (
                control(TYPE_PING, 0, &[0, 0, 0, 1, 0]),
                FrameError::Malformed("PING"),
            ),
            (
                control(TYPE_SYN_STREAM, 0, &[0, 0, 0, 1, 0]),
                FrameError::Malformed("SYN_STREAM"),
            ),
            (
                control(TYPE_SYN_REPLY, 0, &[0, 0]),
                FrameError::Malformed("SYN_REPLY"),
            ),
            (
                control(TYPE_SETTINGS, 0, &[0xff, 0xff, 0xff, 0xff]),
                FrameError::Malformed("SETTINGS"),
            ),
            (
                control(TYPE_SETTINGS, 0, &[0, 0, 0, 1, 0, 0, 0]),
                FrameError::Malformed("SETTINGS"),
            ),
            (
                control(TYPE_GOAWAY, 0, &[0; 4]),
                FrameError::Malformed("GOAWAY"),
            ),
            (
                control(TYPE_WINDOW_UPDATE, 0, &[0; 9]),
                FrameError::Malformed("WINDOW_UPDATE"),
            ),
            (vec![0, 0, 0, 0, 0, 0, 0, 0], FrameError::Malformed("DATA")),
            (vec![0x80, 2, 0, 1, 0, 0, 0, 0], FrameError::Version(2)),
            (
                vec![0x80, 3, 0, 1, 0, 1, 0, 1],
                FrameError::TooLong {
                    len: 0x10001,
                    max: MAX_CONTROL,
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(decode(&bytes), Err(want), "{bytes:?}");
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        // A small deterministic generator: every prefix of noise decodes to a
        // frame, an error or a request for more, never a panic.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut buf = Vec::new();
            for _ in 0..64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                buf.push(x as u8);
            }
            buf[0] |= (x as u8) & 0x80;
            buf[1] = 3;
            buf[5] = 0;
            buf[6] = 0;
            let _ = decode(&buf);
        }
    }
}
