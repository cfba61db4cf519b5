//! Version 2: attaching to a running app (CRI's `Attach`, `crictl attach`):
//! an engine enforcing [`crate::Feature::Attach`] listens on
//! `stage1/attach/<app>` ([`attach_socket`]) for each app of a mutable pod
//! that asked for it. Whoever connects (root: the socket is 0600) gets the
//! app's output from then on, as frames `[stream][length: u32, big-endian]
//! [bytes]` with stream 1 for stdout and 2 for stderr; what it writes is
//! raw input for the app's stdin, when the app has one kept open
//! ([`crate::App::stdin`]). When the client closes its side, an app with
//! [`crate::App::stdin_once`] gets end-of-file on its stdin. The engine
//! closes the connection when the app has exited and its output is out.
//!
//! An app with a terminal ([`crate::App::tty`], feature
//! [`crate::Feature::AppTty`]) has one output, the terminal's, sent as
//! stdout frames. Its clients write frames too, [`TtyInput`]: [`STDIN`]
//! frames are typed at the terminal (when the app has a stdin), a
//! [`RESIZE`] frame of 4 bytes (rows, then columns, each a u16,
//! big-endian) sets its window size. When such a client closes its side,
//! an app with `stdin_once` gets an end-of-file character (^D).

use std::io::{self, Read};

/// The socket of `app`, relative to the pod directory.
pub fn attach_socket(app: &str) -> String {
    format!("{}/attach/{app}", crate::STAGE1_DIR)
}

/// The stdout stream's tag.
pub const STDOUT: u8 = 1;
/// The stderr stream's tag.
pub const STDERR: u8 = 2;
/// The longest frame an engine sends.
pub const MAX_FRAME: usize = 64 * 1024;

/// A terminal's input frame's tag.
pub const STDIN: u8 = 0;
/// A terminal's resize frame's tag.
pub const RESIZE: u8 = 3;

/// What a client of an app with a terminal sends, frame by frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TtyInput<'a> {
    /// Bytes typed at the terminal.
    Stdin(&'a [u8]),
    /// The window's new size.
    Resize {
        /// Rows.
        rows: u16,
        /// Columns.
        cols: u16,
    },
}

impl TtyInput<'_> {
    /// Appends its frame to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            TtyInput::Stdin(data) => encode(STDIN, data, out),
            TtyInput::Resize { rows, cols } => {
                let [r0, r1] = rows.to_be_bytes();
                let [c0, c1] = cols.to_be_bytes();
                encode(RESIZE, &[r0, r1, c0, c1], out);
            }
        }
    }

    /// The first whole frame of `buf` and its length: `Ok(None)` while it
    /// is incomplete, an error for what is no terminal input frame.
    pub fn decode(buf: &[u8]) -> io::Result<Option<(TtyInput<'_>, usize)>> {
        let Some(head) = buf.get(..5) else {
            return Ok(None);
        };
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let bad = |what| io::Error::new(io::ErrorKind::InvalidData, what);
        if len > MAX_FRAME {
            return Err(bad("an attach frame too long"));
        }
        let Some(data) = buf.get(5..5 + len) else {
            return Ok(None);
        };
        let input = match (head[0], data) {
            (STDIN, _) => TtyInput::Stdin(data),
            (RESIZE, &[r0, r1, c0, c1]) => TtyInput::Resize {
                rows: u16::from_be_bytes([r0, r1]),
                cols: u16::from_be_bytes([c0, c1]),
            },
            _ => return Err(bad("not a terminal's input frame")),
        };
        Ok(Some((input, 5 + len)))
    }
}

/// Appends one frame of `data` on `stream` to `out`.
pub fn encode(stream: u8, data: &[u8], out: &mut Vec<u8>) {
    debug_assert!(data.len() <= MAX_FRAME);
    out.push(stream);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

/// Reads one frame: `None` at a clean end of the stream.
pub fn read_frame(r: &mut impl Read) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut head = [0u8; 5];
    match r.read(&mut head[..1])? {
        0 => return Ok(None),
        _ => r.read_exact(&mut head[1..])?,
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if !(head[0] == STDOUT || head[0] == STDERR) || len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not an attach frame",
        ));
    }
    let mut data = vec![0; len];
    r.read_exact(&mut data)?;
    Ok(Some((head[0], data)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_ones_are_refused() {
        let mut buf = Vec::new();
        encode(STDOUT, b"hello\n", &mut buf);
        encode(STDERR, b"", &mut buf);
        let mut r = &buf[..];
        assert_eq!(
            read_frame(&mut r).unwrap(),
            Some((STDOUT, b"hello\n".to_vec()))
        );
        assert_eq!(read_frame(&mut r).unwrap(), Some((STDERR, Vec::new())));
        assert_eq!(read_frame(&mut r).unwrap(), None);
        let mut bad = &[9u8, 0, 0, 0, 1, b'x'][..];
        assert!(read_frame(&mut bad).is_err());
        let mut huge = &[1u8, 0xff, 0xff, 0xff, 0xff][..];
        assert!(read_frame(&mut huge).is_err());
        assert_eq!(attach_socket("web"), "stage1/attach/web");
    }

    #[test]
    fn terminal_input_frames_round_trip() {
        let mut buf = Vec::new();
        TtyInput::Stdin(b"ls\r").encode(&mut buf);
        TtyInput::Resize {
            rows: 40,
            cols: 132,
        }
        .encode(&mut buf);
        assert_eq!(&buf[..8], &[STDIN, 0, 0, 0, 3, b'l', b's', b'\r']);
        assert_eq!(&buf[8..], &[RESIZE, 0, 0, 0, 4, 0, 40, 0, 132]);
        let (first, n) = TtyInput::decode(&buf).unwrap().unwrap();
        assert_eq!((first, n), (TtyInput::Stdin(b"ls\r"), 8));
        let (second, m) = TtyInput::decode(&buf[n..]).unwrap().unwrap();
        assert_eq!(
            second,
            TtyInput::Resize {
                rows: 40,
                cols: 132
            }
        );
        assert_eq!(n + m, buf.len());
        // Incomplete: wait for more.
        assert_eq!(TtyInput::decode(&buf[..4]).unwrap(), None);
        assert_eq!(TtyInput::decode(&buf[..7]).unwrap(), None);
        // A resize of the wrong size, an output tag, a huge length.
        assert!(TtyInput::decode(&[RESIZE, 0, 0, 0, 2, 0, 1]).is_err());
        assert!(TtyInput::decode(&[STDOUT, 0, 0, 0, 0]).is_err());
        assert!(TtyInput::decode(&[STDIN, 0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
