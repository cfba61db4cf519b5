//! `rukt logs`' flags, in podman's spelling, and its time values: an RFC
//! 3339 timestamp, a date (`2006-01-02`, UTC), Unix seconds (`1700000000`,
//! `1700000000.5`) or a duration before now (`10m`, `1h30m`).

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Args, ValueEnum};

// `rukt logs [FLAGS] UUID` (not a doc comment: see the module doc).
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The pod's UUID or a unique prefix.
    #[arg(required_unless_present = "uuid_file")]
    pub uuid: Option<String>,
    /// Read the UUID from this file.
    #[arg(long)]
    pub uuid_file: Option<PathBuf>,
    /// Only this app's output (default: every app's, merged by time).
    #[arg(long)]
    pub app: Option<String>,
    /// Keep printing new lines until the pod exits.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Only lines since TIME (RFC 3339, YYYY-MM-DD, Unix seconds, or a duration ago: 10m).
    #[arg(long, value_parser = time_value, value_name = "TIME")]
    pub since: Option<Duration>,
    /// Only lines before TIME (as --since).
    #[arg(long, value_parser = time_value, value_name = "TIME")]
    pub until: Option<Duration>,
    /// Only the last N lines (-1: all).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true, value_name = "N")]
    pub tail: i64,
    /// Prefix each line with the time it was read.
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Prefix each line with its app's name.
    #[arg(short = 'n', long)]
    pub names: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: LogFormat,
}

/// `rukt logs --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// The lines as the app wrote them (stdout's to stdout, stderr's to stderr).
    Text,
    /// One JSON object per line on stdout: app, time, stream, message.
    Json,
}

/// A time value as time since the epoch.
pub fn time_value(s: &str) -> Result<Duration, String> {
    if let Some(t) = rukt_contract::logfmt::parse_rfc3339(s) {
        return Ok(t);
    }
    if s.len() == 10
        && let Some(t) = rukt_contract::logfmt::parse_rfc3339(&format!("{s}T00:00:00Z"))
    {
        return Ok(t);
    }
    if let Ok(secs) = s.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Ok(Duration::from_secs_f64(secs));
    }
    let ago: Duration = s
        .parse::<humantime::Duration>()
        .map_err(|_| {
            "expected RFC 3339 (2026-01-02T15:04:05Z), YYYY-MM-DD, Unix seconds or a duration (10m)"
                .to_string()
        })?
        .into();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Ok(now.saturating_sub(ago))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_values() {
        assert_eq!(
            time_value("1970-01-01T00:00:10Z"),
            Ok(Duration::from_secs(10))
        );
        assert_eq!(time_value("1970-01-02"), Ok(Duration::from_secs(86_400)));
        assert_eq!(
            time_value("1700000000.5"),
            Ok(Duration::from_secs_f64(1_700_000_000.5))
        );
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let ago = time_value("1h30m").unwrap();
        let back = now - ago;
        assert!(
            back >= Duration::from_secs(5399) && back < Duration::from_secs(5410),
            "{back:?}"
        );
        assert!(time_value("yesterday").is_err());
    }
}
