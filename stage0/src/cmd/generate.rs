//! `rukt generate systemd [POD FLAGS] IMAGE …`: a unit running that pod.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::Globals;
use crate::cli::words::RunWords;
use crate::unit::{UnitSpec, render};

pub fn systemd(g: &Globals, words: &[String]) -> Result<ExitCode> {
    let parsed = RunWords::parse(words)?;
    let images: Vec<&str> = parsed
        .spec
        .apps
        .iter()
        .map(|a| a.image_input.as_str())
        .collect();
    let rukt = std::env::current_exe().context("cannot find the rukt binary")?;
    let mut globals = Vec::new();
    if g.dir != std::path::Path::new(crate::cli::DEFAULT_DIR) {
        globals.push(format!("--dir={}", g.dir.display()));
    }
    if g.insecure_http {
        globals.push("--insecure-options=http".into());
    }
    let mut run = words.to_vec();
    if !parsed.quiet {
        run.insert(0, "--quiet".into());
    }
    let text = render(&UnitSpec {
        description: format!("rukt pod {}", images.join(" ")),
        rukt: &rukt,
        globals,
        run,
        ..UnitSpec::new(&rukt)
    });
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
