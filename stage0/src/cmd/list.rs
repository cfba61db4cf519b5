//! `rukt list`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use rukt_pods::status;

use super::Globals;
use super::pods::existing_pods;
use super::status::exit_suffix;
use crate::cli::Format;

pub fn run(g: &Globals, format: Format, no_legend: bool, full: bool) -> Result<ExitCode> {
    let all: Vec<_> = existing_pods(g).all()?.iter().map(status).collect();
    let mut out = std::io::stdout().lock();
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut out, &all)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows: Vec<[String; 7]> = Vec::new();
    for st in &all {
        let mut uuid = st.uuid.to_string();
        if !full {
            uuid.truncate(8);
        }
        let apps = st
            .apps
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let images = st
            .apps
            .iter()
            .map(|a| a.image.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let exit = exit_suffix(st);
        rows.push([
            uuid,
            apps,
            images,
            format!("{}{exit}", st.state),
            st.created.clone().unwrap_or_else(|| "-".into()),
            st.started.clone().unwrap_or_else(|| "-".into()),
            Some(st.networks_summary())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let header = [
        "UUID",
        "APP",
        "IMAGE NAME",
        "STATE",
        "CREATED",
        "STARTED",
        "NETWORKS",
    ];
    crate::cmd::table::print(&mut out, (!no_legend).then_some(header), &rows)?;
    Ok(ExitCode::SUCCESS)
}
