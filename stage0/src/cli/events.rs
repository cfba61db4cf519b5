//! `rukt events`' flags, in podman's spelling: `--since`/`--until` take the
//! time values of `rukt logs` (RFC 3339, a date, Unix seconds or a duration
//! ago), `--filter KEY=VALUE` (repeatable, comma lists), `--format json`,
//! `--stream=false`.

use std::time::Duration;

use clap::{ArgAction, Args, ValueEnum};

// `rukt events [FLAGS]` (not a doc comment: see the module doc).
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only events since TIME (RFC 3339, YYYY-MM-DD, Unix seconds, or a duration ago: 10m).
    #[arg(long, value_parser = super::logs::time_value, value_name = "TIME")]
    pub since: Option<Duration>,
    /// Only events up to TIME (as --since); following stops then.
    #[arg(long, value_parser = super::logs::time_value, value_name = "TIME")]
    pub until: Option<Duration>,
    /// Only events matching KEY=VALUE: type, pod, image, name (repeatable;
    /// `type=app_exited,pod_exited` lists alternatives).
    #[arg(long, value_name = "KEY=VALUE", value_parser = filter_value)]
    pub filter: Vec<String>,
    /// Output format: a line per event, or the journal's JSON lines.
    #[arg(long, value_enum, default_value = "text")]
    pub format: EventFormat,
    /// Keep following new events after the replay (`--stream=false`: exit).
    #[arg(
        long,
        action = ArgAction::Set,
        default_value_t = true,
        default_missing_value = "true",
        num_args = 0..=1,
        require_equals = true,
        value_name = "BOOL"
    )]
    pub stream: bool,
}

/// `rukt events --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventFormat {
    /// `TIME TYPE ID (name=..., exit_code=..., ...)`.
    Text,
    /// One JSON object per line, as in the journal.
    Json,
}

/// A `--filter` argument, checked.
fn filter_value(s: &str) -> Result<String, String> {
    rukt_events::Filter::default()
        .add(s)
        .map(|()| s.to_string())
        .map_err(|e| e.to_string())
}
