//! A writer of `newc` cpio archives, the initramfs format: an ASCII header
//! per entry, name and data each padded to 4 bytes, `TRAILER!!!` last. The
//! initramfs is not compressed: under TCG, decompressing it would cost more
//! than reading a few more MiB.

use std::io::{self, Write};

/// Writes a cpio archive entry by entry.
pub struct Cpio<W: Write> {
    out: W,
    ino: u32,
    written: u64,
}

impl<W: Write> Cpio<W> {
    /// An archive written to `out`.
    pub fn new(out: W) -> Cpio<W> {
        Cpio {
            out,
            ino: 1,
            written: 0,
        }
    }

    /// A directory.
    pub fn dir(&mut self, name: &str) -> io::Result<()> {
        self.entry(name, 0o040_755, &[])
    }

    /// A regular file with permissions `perm`.
    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        self.entry(name, 0o100_000 | (perm & 0o7777), data)
    }

    /// Writes the trailer; returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.entry("TRAILER!!!", 0, &[])?;
        Ok(self.out)
    }

    fn entry(&mut self, name: &str, mode: u32, data: &[u8]) -> io::Result<()> {
        let namesize = name.len() + 1;
        let fields = [
            self.ino,
            mode,
            0,
            0,
            1,
            0,
            u32::try_from(data.len()).map_err(|_| io::Error::other("file too large for cpio"))?,
            0,
            0,
            0,
            0,
            namesize as u32,
            0,
        ];
        self.ino += 1;
        let mut header = String::with_capacity(110);
        header.push_str("070701");
        for f in fields {
            header.push_str(&format!("{f:08X}"));
        }
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let n = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0, 0, 0][..n])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_newc_and_aligned() {
        let mut c = Cpio::new(Vec::new());
        c.dir("lib").unwrap();
        c.file("init", 0o755, b"abcde").unwrap();
        let out = c.finish().unwrap();
        assert_eq!(out.len() % 4, 0);
        let first = std::str::from_utf8(&out[..110]).unwrap();
        assert!(first.starts_with("070701"));
        // mode of the directory, then namesize 4 ("lib\0").
        assert_eq!(&first[14..22], "000041ED");
        assert_eq!(&first[94..102], "00000004");
        // "lib\0" ends at 114, padded to 116, where the next header starts.
        assert_eq!(&out[110..116], b"lib\0\0\0");
        let second = std::str::from_utf8(&out[116..226]).unwrap();
        assert_eq!(&second[14..22], "000081ED");
        assert_eq!(&second[54..62], "00000005");
        // "init\0" (226..231) padded to 232, then the data, padded to 240.
        assert_eq!(&out[226..232], b"init\0\0");
        assert_eq!(&out[232..237], b"abcde");
        assert!(out.windows(10).any(|w| w == b"TRAILER!!!"));
    }
}
