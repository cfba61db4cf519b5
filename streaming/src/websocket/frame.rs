//! WebSocket frames (RFC 6455 section 5) as a server reads and writes
//! them: client frames must be masked, control frames short and whole,
//! payloads at most [`MAX_PAYLOAD`]; server frames go out unmasked.
//! Decoding never panics.

use thiserror::Error;

/// The largest frame payload accepted (gorilla/websocket, behind client-go,
/// fragments messages at its 32 KiB buffer).
pub(crate) const MAX_PAYLOAD: usize = 1024 * 1024;

pub(crate) const OP_CONTINUATION: u8 = 0;
pub(crate) const OP_TEXT: u8 = 1;
pub(crate) const OP_BINARY: u8 = 2;
pub(crate) const OP_CLOSE: u8 = 8;
pub(crate) const OP_PING: u8 = 9;
pub(crate) const OP_PONG: u8 = 10;

/// One frame, unmasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WsFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// A frame that breaks the protocol.
#[derive(Debug, Error, PartialEq, Eq)]
pub(crate) enum WsError {
    #[error("a client frame is not masked")]
    Unmasked,
    #[error("reserved bits or opcode {0} set")]
    Reserved(u8),
    #[error("a control frame is fragmented or over 125 bytes")]
    BadControl,
    #[error("a frame of {0} bytes is over the limit")]
    TooLong(u64),
}

/// Decodes the first frame of `buf` (from a client): `Ok(None)` when more
/// bytes are needed.
pub(crate) fn decode(buf: &[u8]) -> Result<Option<(WsFrame, usize)>, WsError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (b0, b1) = (buf[0], buf[1]);
    let opcode = b0 & 0x0f;
    if b0 & 0x70 != 0 || !matches!(opcode, 0..=2 | 8..=10) {
        return Err(WsError::Reserved(opcode));
    }
    if b1 & 0x80 == 0 {
        return Err(WsError::Unmasked);
    }
    let fin = b0 & 0x80 != 0;
    let (len, mut at) = match b1 & 0x7f {
        126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => (
            u64::from_be_bytes(buf[2..10].try_into().unwrap_or_default()),
            10,
        ),
        126 | 127 => return Ok(None),
        n => (u64::from(n), 2),
    };
    if opcode >= 8 && (!fin || len > 125) {
        return Err(WsError::BadControl);
    }
    if len > MAX_PAYLOAD as u64 {
        return Err(WsError::TooLong(len));
    }
    let len = len as usize;
    if buf.len() < at + 4 + len {
        return Ok(None);
    }
    let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    at += 4;
    let payload = buf[at..at + len]
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    Ok(Some((
        WsFrame {
            fin,
            opcode,
            payload,
        },
        at + len,
    )))
}

/// Appends a final frame to `out`, masked with `mask` if given (tests play
/// the client with it).
pub(crate) fn encode(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    let bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(bit | n as u8),
        n @ 126..=0xffff => {
            out.push(bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_frames_round_trip() {
        for len in [0usize, 1, 125, 126, 65535, 65536, 200_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut buf = Vec::new();
            encode(OP_BINARY, &payload, Some([1, 2, 3, 4]), &mut buf);
            let (frame, used) = decode(&buf).unwrap().unwrap();
            assert_eq!(used, buf.len());
            assert_eq!(
                frame,
                WsFrame {
                    fin: true,
                    opcode: OP_BINARY,
                    payload
                }
            );
            assert_eq!(decode(&buf[..used - 1]).unwrap(), None);
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        let mut unmasked = Vec::new();
        encode(OP_BINARY, b"x", None, &mut unmasked);
        assert_eq!(decode(&unmasked), Err(WsError::Unmasked));
        assert_eq!(decode(&[0x83, 0x80, 0, 0, 0, 0]), Err(WsError::Reserved(3)));
        assert_eq!(decode(&[0xc2, 0x80, 0, 0, 0, 0]), Err(WsError::Reserved(2)));
        assert_eq!(
            decode(&[0x09, 0x80, 0, 0, 0, 0]),
            Err(WsError::BadControl),
            "a fragmented ping"
        );
        assert_eq!(
            decode(&[0x89, 0xfe, 0, 200]),
            Err(WsError::BadControl),
            "a long ping"
        );
        let huge = [0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(decode(&huge), Err(WsError::TooLong(1 << 32)));
    }
}
