//! One module per verb; each turns parsed arguments into library calls.

mod fetch;
mod image;
mod pod;
mod table;

use std::process::ExitCode;

use anyhow::{Context, Result};
use rukt_images::store::Store;

use crate::cli::{Cli, Command, InsecureOption};

/// Global settings every verb may need.
pub struct Globals {
    pub debug: bool,
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
        debug: cli.debug,
        // Absolute: mount points are compared with /proc/self/mountinfo, and
        // stage1 runs with another working directory.
        dir: std::path::absolute(&cli.dir)
            .with_context(|| format!("invalid --dir {}", cli.dir.display()))?,
        config_dir: cli.config_dir,
        insecure_http: cli.insecure_options.contains(&InsecureOption::Http),
    };
    match cli.command {
        Command::Fetch(args) => fetch::run(&globals, args),
        Command::Image(cmd) => image::run(&globals, cmd),
        Command::Run(w) => pod::run::run(&globals, &w.words, globals.debug),
        Command::Prepare(w) => pod::run::prepare_cmd(&globals, &w.words),
        Command::RunPrepared {
            uuid,
            uuid_file,
            interactive,
        } => pod::run::run_prepared(
            &globals,
            uuid.as_deref(),
            uuid_file.as_deref(),
            interactive,
            globals.debug,
        ),
        Command::List(f) => pod::list::run(&globals, f.format, f.no_legend, f.full),
        Command::Status {
            uuid,
            uuid_file,
            wait,
            format,
        } => pod::status::run(
            &globals,
            uuid.as_deref(),
            uuid_file.as_deref(),
            wait,
            format,
        ),
        Command::Stop {
            uuids,
            uuid_file,
            force,
            timeout,
        } => pod::stop::run(
            &globals,
            &uuids,
            uuid_file.as_deref(),
            force,
            timeout,
            globals.debug,
        ),
        Command::Rm { uuids, uuid_file } => {
            pod::gc::rm_cmd(&globals, &uuids, uuid_file.as_deref(), globals.debug)
        }
        Command::Gc {
            grace_period,
            expire_prepared,
            mark_only,
        } => pod::gc::gc_cmd(
            &globals,
            grace_period,
            expire_prepared,
            mark_only,
            globals.debug,
        ),
        Command::CatManifest { uuid, uuid_file } => {
            pod::status::cat_manifest(&globals, uuid.as_deref(), uuid_file.as_deref())
        }
        Command::Enter {
            app,
            uuid_file,
            words,
        } => pod::enter::run(
            &globals,
            app.as_deref(),
            uuid_file.as_deref(),
            &words,
            globals.debug,
        ),
    }
}
