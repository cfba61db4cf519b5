//! Version 2: the format of the per-app log files ([`crate::app_log`]),
//! the CRI container log format kubelet reads:
//! `<RFC 3339 UTC timestamp, nanoseconds> <stdout|stderr> <P|F> <message>\n`.
//! `F` ends a line the app wrote; `P` is part of one (a line cut at
//! [`MAX_PIECE`] bytes, or the last bytes of a read that did not end with a
//! newline), continued by the next entry of the same stream. Messages are
//! bytes as the app wrote them, without the newline.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest message of one entry; longer lines are cut into `P` pieces.
pub const MAX_PIECE: usize = 16 * 1024;
/// Default size at which a log file is rotated.
pub const DEFAULT_MAX_SIZE: u64 = 10 * 1024 * 1024;
/// Default number of files kept per app (the live one and rotated ones,
/// `<app>.log.1` the newest).
pub const DEFAULT_MAX_FILES: u32 = 5;

/// Version 2: how a pod's log files rotate (`--log-max-size`,
/// `--log-max-files`), in the pod manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogOptions {
    /// Size in bytes past which the live file is rotated.
    pub max_size: u64,
    /// Files kept per app, the live one included (at least 1: with 1, the
    /// file is emptied instead of rotated).
    pub max_files: u32,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            max_size: DEFAULT_MAX_SIZE,
            max_files: DEFAULT_MAX_FILES,
        }
    }
}

impl LogOptions {
    /// Whether these are the defaults (left out of the manifest).
    pub fn is_default(&self) -> bool {
        *self == LogOptions::default()
    }
}

/// Which of the app's streams an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The word in the log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One parsed log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// When the supervisor read it, since the epoch.
    pub time: Duration,
    /// Its stream.
    pub stream: Stream,
    /// `false` for a `P` piece that the next entry continues.
    pub full: bool,
    /// The message.
    pub message: &'a [u8],
}

/// A line that is not a log entry.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a CRI log line ({0})")]
pub struct BadLine(pub &'static str);

impl<'a> Entry<'a> {
    /// Parses one line (without its newline).
    pub fn parse(line: &'a [u8]) -> Result<Entry<'a>, BadLine> {
        let mut parts = line.splitn(4, |b| *b == b' ');
        let time = parts.next().ok_or(BadLine("no timestamp"))?;
        let time = std::str::from_utf8(time)
            .ok()
            .and_then(parse_rfc3339)
            .ok_or(BadLine("bad timestamp"))?;
        let stream = match parts.next() {
            Some(b"stdout") => Stream::Stdout,
            Some(b"stderr") => Stream::Stderr,
            _ => return Err(BadLine("bad stream")),
        };
        let tags = parts.next().ok_or(BadLine("no tag"))?;
        let full = match tags.split(|b| *b == b':').next() {
            Some(b"F") => true,
            Some(b"P") => false,
            _ => return Err(BadLine("bad tag")),
        };
        Ok(Entry {
            time,
            stream,
            full,
            message: parts.next().unwrap_or_default(),
        })
    }
}

/// Appends the entries for `data`, read from `stream` at `time`, to `out`:
/// each newline-ended line an `F` entry, what follows the last newline a
/// `P` entry, any piece longer than [`MAX_PIECE`] cut into `P` entries.
pub fn encode(time: SystemTime, stream: Stream, data: &[u8], out: &mut Vec<u8>) {
    let mut stamp = [0u8; 30];
    let stamp = format_rfc3339(time, &mut stamp);
    let prefix: &[u8] = match stream {
        Stream::Stdout => b" stdout ",
        Stream::Stderr => b" stderr ",
    };
    out.reserve(data.len() + data.len() / 8 + 64);
    let mut rest = data;
    while !rest.is_empty() {
        let (piece, full, used) = match memchr::memchr(b'\n', rest) {
            Some(n) if n <= MAX_PIECE => (&rest[..n], true, n + 1),
            _ if rest.len() <= MAX_PIECE => (rest, false, rest.len()),
            _ => (&rest[..MAX_PIECE], false, MAX_PIECE),
        };
        out.extend_from_slice(stamp);
        out.extend_from_slice(prefix);
        out.extend_from_slice(if full { b"F " } else { b"P " });
        out.extend_from_slice(piece);
        out.push(b'\n');
        rest = &rest[used..];
    }
}

/// `time` as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, written into `buf` digit by
/// digit (no formatting machinery: the supervisor runs this per read).
pub fn format_rfc3339(time: SystemTime, buf: &mut [u8; 30]) -> &[u8] {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let tod = secs % 86_400;
    let mut put = |at: usize, width: usize, mut v: u64| {
        for i in (at..at + width).rev() {
            buf[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, y.clamp(0, 9999) as u64);
    put(5, 2, u64::from(m));
    put(8, 2, u64::from(d));
    put(11, 2, tod / 3600);
    put(14, 2, tod / 60 % 60);
    put(17, 2, tod % 60);
    put(20, 9, u64::from(since.subsec_nanos()));
    for (i, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (29, b'Z'),
    ] {
        buf[i] = c;
    }
    &buf[..]
}

/// Parses an RFC 3339 timestamp (`Z` or a `±HH:MM` offset, any number of
/// fractional digits) into time since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<Duration> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start).min(9)..9 {
            nanos *= 10;
        }
    }
    let offset = match &s[i..] {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let v = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if o.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    u64::try_from(secs).ok().map(|s| Duration::new(s, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn timestamps_round_trip() {
        let mut buf = [0u8; 30];
        let t = at(1_764_590_000, 123_456_789);
        let s = std::str::from_utf8(format_rfc3339(t, &mut buf))
            .unwrap()
            .to_string();
        assert_eq!(s, "2025-12-01T11:53:20.123456789Z");
        assert_eq!(
            parse_rfc3339(&s),
            Some(Duration::new(1_764_590_000, 123_456_789))
        );
        assert_eq!(
            parse_rfc3339("2025-12-01T12:53:20.5+01:00"),
            Some(Duration::new(1_764_590_000, 500_000_000))
        );
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
        assert_eq!(
            parse_rfc3339("2024-02-29T00:00:00Z"),
            Some(Duration::from_secs(1_709_164_800))
        );
        for bad in [
            "",
            "2025-13-01T00:00:00Z",
            "2025-12-01T00:00:00",
            "2025-12-01T00:00:00.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn lines_pieces_and_partials() {
        let mut out = Vec::new();
        encode(at(0, 0), Stream::Stdout, b"one\ntwo\nthr", &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "1970-01-01T00:00:00.000000000Z stdout F one",
                "1970-01-01T00:00:00.000000000Z stdout F two",
                "1970-01-01T00:00:00.000000000Z stdout P thr",
            ]
        );
        let mut out = Vec::new();
        let long = vec![b'x'; MAX_PIECE * 2 + 5];
        let mut data = long.clone();
        data.push(b'\n');
        encode(at(0, 0), Stream::Stderr, &data, &mut out);
        let entries: Vec<Entry> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| Entry::parse(l).unwrap())
            .collect();
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries.iter().map(|e| e.full).collect::<Vec<_>>(),
            [false, false, true]
        );
        let joined: Vec<u8> = entries.iter().flat_map(|e| e.message.to_vec()).collect();
        assert_eq!(joined, long);
        assert!(entries.iter().all(|e| e.stream == Stream::Stderr));
    }

    #[test]
    fn garbled_lines_are_refused() {
        assert!(Entry::parse(b"garbage").is_err());
        assert!(Entry::parse(b"1970-01-01T00:00:00Z stdin F x").is_err());
        assert!(Entry::parse(b"1970-01-01T00:00:00Z stdout X x").is_err());
        let e = Entry::parse(b"1970-01-01T00:00:01Z stdout F").unwrap();
        assert_eq!((e.time, e.message), (Duration::from_secs(1), &b""[..]));
    }
}
