//! `rukt image list`.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Result;

use crate::cli::Format;
use crate::cmd::Globals;

pub fn run(g: &Globals, format: Format, no_legend: bool, full: bool) -> Result<ExitCode> {
    let store = g.store()?;
    let index = store.index()?;
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        let rows: Vec<_> = index
            .images
            .values()
            .map(|r| {
                serde_json::json!({
                    "name": r.name, "id": r.id.to_string(), "manifest": r.manifest.to_string(),
                    "size": r.size, "created": r.created, "last_used": store.last_used(r),
                    "platform": r.platform.to_string(),
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 5]> = index
        .images
        .values()
        .map(|r| {
            let id = if full {
                r.id.to_string()
            } else {
                r.id.short().to_string()
            };
            [
                r.name.clone(),
                id,
                human_size(r.size),
                ago(r.created.as_deref()),
                ago(Some(&store.last_used(r))),
            ]
        })
        .collect();
    let header = ["NAME", "ID", "SIZE", "CREATED", "LAST USED"];
    crate::cmd::table::print(&mut out, (!no_legend).then_some(header), &rows)?;
    Ok(ExitCode::SUCCESS)
}

/// `12.3 MB` in the decimal units podman uses.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `5 minutes ago` for an RFC 3339 time.
fn ago(t: Option<&str>) -> String {
    let Some(t) = t else { return "-".into() };
    let Ok(when) = humantime::parse_rfc3339_weak(t) else {
        return t.to_string();
    };
    let secs = SystemTime::now()
        .duration_since(when)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (n, unit) = match secs {
        0..60 => return "just now".into(),
        60..3600 => (secs / 60, "minute"),
        3600..86400 => (secs / 3600, "hour"),
        86400..2_592_000 => (secs / 86400, "day"),
        2_592_000..31_536_000 => (secs / 2_592_000, "month"),
        _ => (secs / 31_536_000, "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}
