//! The writer's look back: the sequence number of the last valid line of a
//! journal file, read backwards in chunks from its end, skipping damaged
//! lines (a torn fragment, garbage) on the way.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::Event;

/// How far back a writer looks for a valid line before giving up.
const LOOK_BACK: u64 = 4 << 20;
const CHUNK: u64 = 16 << 10;

/// The `seq` of the last valid line of `file`, if it has one within the
/// last [`LOOK_BACK`] bytes.
pub(crate) fn last_seq(file: &File) -> io::Result<Option<u64>> {
    let len = file.metadata()?.len();
    let floor = len.saturating_sub(LOOK_BACK);
    // `buf` holds the bytes from `start` to the end of the file; lines are
    // taken off its end, `cut` marking where the unexamined part ends.
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    let mut cut = 0usize;
    loop {
        let body = &buf[..cut];
        // The newline ending the line before the last one in `body`.
        let search = body.strip_suffix(b"\n").unwrap_or(body);
        match search.iter().rposition(|&b| b == b'\n') {
            Some(i) => {
                if let Some(seq) = seq_of(&search[i + 1..]) {
                    return Ok(Some(seq));
                }
                cut = i + 1;
            }
            None if start == floor => return Ok(seq_of(search)),
            None => {
                let from = start.saturating_sub(CHUNK).max(floor);
                let mut chunk = vec![0u8; (start - from) as usize];
                file.read_exact_at(&mut chunk, from)?;
                cut += chunk.len();
                chunk.extend_from_slice(&buf);
                buf = chunk;
                start = from;
            }
        }
    }
}

fn seq_of(line: &[u8]) -> Option<u64> {
    Event::from_line(line).map(|e| e.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(content: &[u8]) -> File {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        f
    }

    fn line(seq: u64) -> String {
        format!(
            "{{\"seq\":{seq},\"time\":\"2026-12-01T14:00:00.000000001Z\",\"type\":\"pod_started\",\"id\":\"{}\"}}\n",
            "x".repeat(300)
        )
    }

    #[test]
    fn the_last_valid_line_wins_over_damage_after_it() {
        assert_eq!(last_seq(&file_with(b"")).unwrap(), None);
        assert_eq!(last_seq(&file_with(line(4).as_bytes())).unwrap(), Some(4));
        let many: String = (1..=200).map(line).collect();
        assert_eq!(last_seq(&file_with(many.as_bytes())).unwrap(), Some(200));
        let torn = format!("{many}{{\"seq\":201,\"ti\n");
        assert_eq!(last_seq(&file_with(torn.as_bytes())).unwrap(), Some(200));
        let garbage = format!("{many}{}\n", "#".repeat(40_000));
        assert_eq!(last_seq(&file_with(garbage.as_bytes())).unwrap(), Some(200));
        assert_eq!(last_seq(&file_with(b"junk\nmore junk\n")).unwrap(), None);
    }
}
