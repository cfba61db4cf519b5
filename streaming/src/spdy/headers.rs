//! SPDY/3 header blocks: a count of name/value pairs, each a 32-bit length
//! and bytes (several values of one name joined by NUL), compressed by one
//! zlib stream per direction and connection that is primed with the SPDY/3
//! dictionary and sync-flushed after each block. The inflater is bounded:
//! a block may expand to at most [`MAX_BLOCK`] bytes and [`MAX_PAIRS`]
//! pairs, so a zlib bomb costs nothing.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use super::dictionary::DICTIONARY;
use super::frame::FrameError;

/// The most bytes one decompressed header block may have.
pub(crate) const MAX_BLOCK: usize = 64 * 1024;
/// The most name/value pairs one header block may have.
pub(crate) const MAX_PAIRS: usize = 64;

/// Header names (lowercase) and values, in block order.
pub(crate) type Headers = Vec<(String, String)>;

/// The receiving zlib stream of a connection (its reader owns it).
pub(crate) struct HeaderDecoder {
    inflate: Decompress,
}

/// The sending zlib stream of a connection (its writer owns it).
pub(crate) struct HeaderEncoder {
    deflate: Compress,
    primed: bool,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        HeaderDecoder {
            inflate: Decompress::new(true),
        }
    }
}

impl Default for HeaderEncoder {
    fn default() -> Self {
        HeaderEncoder {
            deflate: Compress::new(Compression::default(), true),
            primed: false,
        }
    }
}

impl HeaderDecoder {
    /// Decompresses and parses one received block.
    pub(crate) fn decode(&mut self, block: &[u8]) -> Result<Headers, FrameError> {
        let raw = self.inflate_block(block)?;
        parse(&raw)
    }

    fn inflate_block(&mut self, mut input: &[u8]) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::with_capacity(1024);
        loop {
            if out.len() == out.capacity() {
                out.reserve(4096);
            }
            let (in0, out0) = (self.inflate.total_in(), self.inflate.total_out());
            let spare = out.capacity() - out.len();
            let result = self
                .inflate
                .decompress_vec(input, &mut out, FlushDecompress::Sync);
            let used = (self.inflate.total_in() - in0) as usize;
            input = &input[used..];
            match result {
                Ok(Status::StreamEnd) => return Err(FrameError::Headers("the zlib stream ended")),
                Ok(_) => {}
                Err(e) if e.needs_dictionary().is_some() => {
                    self.inflate
                        .set_dictionary(&DICTIONARY)
                        .map_err(|_| FrameError::Headers("dictionary refused"))?;
                    continue;
                }
                Err(_) => return Err(FrameError::Headers("corrupt zlib data")),
            }
            if out.len() > MAX_BLOCK {
                return Err(FrameError::Headers("block too large"));
            }
            let produced = (self.inflate.total_out() - out0) as usize;
            if input.is_empty() && produced < spare {
                return Ok(out);
            }
            if used == 0 && produced == 0 {
                return Err(FrameError::Headers("zlib made no progress"));
            }
        }
    }
}

impl HeaderEncoder {
    /// Serialises and compresses one block to send.
    pub(crate) fn encode(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        if !self.primed {
            // A fresh deflater accepts a dictionary; failing here is a flate2 bug.
            self.deflate
                .set_dictionary(&DICTIONARY)
                .expect("a fresh deflater takes a dictionary");
            self.primed = true;
        }
        let mut raw = Vec::new();
        raw.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        for (name, value) in headers {
            for field in [name.to_ascii_lowercase().as_bytes(), value.as_bytes()] {
                raw.extend_from_slice(&(field.len() as u32).to_be_bytes());
                raw.extend_from_slice(field);
            }
        }
        let mut out = Vec::with_capacity(raw.len() + 64);
        let mut input = &raw[..];
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(256);
            }
            let in0 = self.deflate.total_in();
            let spare = out.capacity() - out.len();
            let out0 = self.deflate.total_out();
            self.deflate
                .compress_vec(input, &mut out, FlushCompress::Sync)
                .expect("deflate of an in-memory block");
            input = &input[(self.deflate.total_in() - in0) as usize..];
            if input.is_empty() && ((self.deflate.total_out() - out0) as usize) < spare {
                return out;
            }
        }
    }
}

fn take<'a>(raw: &mut &'a [u8]) -> Result<&'a [u8], FrameError> {
    let short = FrameError::Headers("truncated block");
    if raw.len() < 4 {
        return Err(short);
    }
    let len = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
    if raw.len() - 4 < len {
        return Err(short);
    }
    let field = &raw[4..4 + len];
    *raw = &raw[4 + len..];
    Ok(field)
}

/// Parses an uncompressed block.
pub(crate) fn parse(mut raw: &[u8]) -> Result<Headers, FrameError> {
    if raw.len() < 4 {
        return Err(FrameError::Headers("truncated block"));
    }
    let n = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]) as usize;
    if n > MAX_PAIRS {
        return Err(FrameError::Headers("too many headers"));
    }
    raw = &raw[4..];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let name = take(&mut raw)?;
        let value = take(&mut raw)?;
        let name = std::str::from_utf8(name)
            .map_err(|_| FrameError::Headers("header name is not UTF-8"))?;
        if name.is_empty() {
            return Err(FrameError::Headers("empty header name"));
        }
        let value = std::str::from_utf8(value)
            .map_err(|_| FrameError::Headers("header value is not UTF-8"))?;
        for v in value.split('\0') {
            out.push((name.to_ascii_lowercase(), v.to_string()));
        }
    }
    if !raw.is_empty() {
        return Err(FrameError::Headers("bytes after the last header"));
    }
    Ok(out)
}

/// The first value of `name` (lowercase) in `headers`.
pub(crate) fn get<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_through_one_stream_each_way() {
        let (mut a, mut b) = (HeaderEncoder::default(), HeaderDecoder::default());
        for round in 0..5 {
            let port = round.to_string();
            let block = a.encode(&[("streamType", "data"), ("port", &port), ("requestID", "0")]);
            let got = b.decode(&block).unwrap();
            assert_eq!(
                got,
                vec![
                    ("streamtype".into(), "data".into()),
                    ("port".into(), port.clone()),
                    ("requestid".into(), "0".into())
                ]
            );
        }
        let empty = a.encode(&[]);
        assert!(
            empty.len() < 16,
            "an empty block after the first is a few bytes"
        );
        assert_eq!(b.decode(&empty).unwrap(), vec![]);
    }

    #[test]
    fn a_zlib_bomb_is_refused() {
        let mut a = HeaderEncoder::default();
        let big = "x".repeat(MAX_BLOCK + 10);
        let block = a.encode(&[("n", &big)]);
        assert!(block.len() < 2048);
        assert_eq!(
            HeaderDecoder::default().decode(&block),
            Err(FrameError::Headers("block too large"))
        );
    }

    #[test]
    fn bad_blocks_are_errors() {
        assert!(HeaderDecoder::default().decode(b"not zlib at all").is_err());
        assert_eq!(
            parse(&[0, 0, 0, 1, 0, 0, 0, 9, b'a']),
            Err(FrameError::Headers("truncated block"))
        );
        assert_eq!(
            parse(&[0, 0, 1, 0]),
            Err(FrameError::Headers("too many headers"))
        );
        assert_eq!(
            parse(&[0, 0, 0, 0, 1]),
            Err(FrameError::Headers("bytes after the last header"))
        );
        let multi = [&[0, 0, 0, 1, 0, 0, 0, 1, b'a', 0, 0, 0, 3][..], b"x\0y"].concat();
        assert_eq!(
            parse(&multi).unwrap(),
            vec![("a".into(), "x".into()), ("a".into(), "y".into())]
        );
    }
}
