//! `rukt logs`: a pod's log files, printed as lines.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use rukt_contract::logfmt::{Stream, format_rfc3339};
use rukt_pods::{LogLine, LogQuery};

use super::Globals;
use super::pods::{existing_pods, find_one};
use crate::cli::logs::{LogFormat, LogsArgs};

pub fn run(g: &Globals, a: &LogsArgs) -> Result<ExitCode> {
    let pod = find_one(g, a.uuid.as_deref(), a.uuid_file.as_deref())?;
    let query = LogQuery {
        app: a.app.clone(),
        follow: a.follow,
        since: a.since,
        until: a.until,
        tail: usize::try_from(a.tail).ok(),
    };
    let (out, err) = (std::io::stdout(), std::io::stderr());
    let mut print = |l: &LogLine| -> std::io::Result<()> {
        let mut w: Box<dyn Write> = match (a.format, l.stream) {
            (LogFormat::Text, Stream::Stderr) => Box::new(err.lock()),
            _ => Box::new(out.lock()),
        };
        let mut stamp = [0u8; 30];
        let time = format_rfc3339(std::time::UNIX_EPOCH + l.time, &mut stamp);
        if a.format == LogFormat::Json {
            let obj = serde_json::json!({
                "app": l.app,
                "time": String::from_utf8_lossy(time),
                "stream": l.stream.as_str(),
                "message": String::from_utf8_lossy(&l.message),
                "partial": !l.full,
            });
            return writeln!(w, "{obj}");
        }
        if a.timestamps {
            w.write_all(time)?;
            w.write_all(b" ")?;
        }
        if a.names {
            write!(w, "{} ", l.app)?;
        }
        w.write_all(&l.message)?;
        if l.full {
            w.write_all(b"\n")?;
        }
        w.flush()
    };
    rukt_pods::logs(&existing_pods(g), &pod, &query, &mut print)
        .with_context(|| format!("cannot read the logs of pod {}", pod.uuid))?;
    Ok(ExitCode::SUCCESS)
}
