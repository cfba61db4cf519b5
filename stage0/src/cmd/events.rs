//! `rukt events`: the store's event journal (`rukt-events`), replayed and
//! then followed, filtered as podman's `events`. A damaged line is said
//! once on stderr and skipped.

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rukt_events::{Entry, Event, Filter, Follower, Reader};

use super::Globals;
use crate::cli::events::{EventFormat, EventsArgs};

pub fn run(g: &Globals, a: &EventsArgs) -> Result<ExitCode> {
    let mut filter = Filter {
        since: a.since.map(|d| UNIX_EPOCH + d),
        until: a.until.map(|d| UNIX_EPOCH + d),
        ..Filter::default()
    };
    for f in &a.filter {
        // Checked by clap already.
        filter.add(f).context("--filter")?;
    }
    let mut reader = Reader::open(&g.dir);
    let mut out = std::io::stdout().lock();
    let replayed = reader.read().with_context(|| {
        format!(
            "cannot read the event journal in {}",
            reader.dir().display()
        )
    })?;
    for entry in replayed {
        if !show(&mut out, a.format, &filter, &entry)? {
            return Ok(ExitCode::SUCCESS);
        }
    }
    // With `--until` in the past nothing more can match.
    let now = SystemTime::now();
    let deadline = match filter.until {
        Some(u) if u <= now => return Ok(ExitCode::SUCCESS),
        Some(u) => Some(Instant::now() + u.duration_since(now).unwrap_or(Duration::ZERO)),
        None => None,
    };
    if !a.stream {
        return Ok(ExitCode::SUCCESS);
    }
    let mut follower = Follower::new(reader);
    while let Some(entry) = follower
        .next(deadline)
        .context("cannot follow the event journal")?
    {
        if !show(&mut out, a.format, &filter, &entry)? {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints `entry` if it passes; `false` once stdout is gone.
fn show(out: &mut impl Write, format: EventFormat, filter: &Filter, entry: &Entry) -> Result<bool> {
    let e = match entry {
        Entry::Event(e) if filter.matches(e) => e,
        Entry::Event(_) => return Ok(true),
        Entry::Damaged(d) => {
            tracing::warn!(
                "skipping a damaged line in {} at byte {}: {:?}",
                d.file.display(),
                d.offset,
                d.excerpt
            );
            return Ok(true);
        }
    };
    let written = match format {
        EventFormat::Json => out.write_all(&e.to_line()),
        EventFormat::Text => writeln!(out, "{}", text_line(e)),
    }
    .and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(err).context("cannot write to stdout"),
    }
}

/// `TIME TYPE ID (key=value, ...)`, as podman prints an event.
fn text_line(e: &Event) -> String {
    let mut attrs: Vec<String> = Vec::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            attrs.push(format!("{k}={v}"));
        }
    };
    put("name", e.name.clone().filter(|n| e.app.as_ref() != Some(n)));
    put("app", e.app.clone());
    put("image", e.image.clone());
    put("exit_code", e.exit_code.map(|c| c.to_string()));
    put("oom", e.oom.filter(|o| *o).map(|o| o.to_string()));
    for (k, v) in &e.attrs {
        attrs.push(format!("{k}={v}"));
    }
    let mut line = format!("{} {} {}", e.time, e.kind, e.id);
    if !attrs.is_empty() {
        line.push_str(&format!(" ({})", attrs.join(", ")));
    }
    line
}
