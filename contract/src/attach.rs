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
}
