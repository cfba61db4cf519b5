//! One module per verb; each turns parsed arguments into library calls.

mod fetch;
mod image;

use std::process::ExitCode;

use anyhow::{Context, Result};
use rukt_images::store::Store;

use crate::cli::{Cli, Command, InsecureOption};

/// Global settings every verb may need.
pub struct Globals {
    pub dir: std::path::PathBuf,
    pub config_dir: std::path::PathBuf,
    pub insecure_http: bool,
}

impl Globals {
    /// Opens the store, creating it on first use.
    pub fn store(&self) -> Result<Store> {
        Store::open(&self.dir)
            .with_context(|| format!("cannot open the store at {}", self.dir.display()))
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let globals = Globals {
        dir: cli.dir,
        config_dir: cli.config_dir,
        insecure_http: cli.insecure_options.contains(&InsecureOption::Http),
    };
    match cli.command {
        Command::Fetch(args) => fetch::run(&globals, args),
        Command::Image(cmd) => image::run(&globals, cmd),
    }
}
