//! `rukt app add|start|stop|rm`: the apps of a running pod.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use rukt_pods::StopOptions;

use super::Globals;
use super::fetch::with_fetcher;
use super::pods::existing_pods;
use crate::cli::AppCommand;
use crate::cli::words::AppWords;

pub fn run(g: &Globals, cmd: AppCommand) -> Result<ExitCode> {
    let pods = existing_pods(g);
    match cmd {
        AppCommand::Add { uuid, words } => {
            let w = AppWords::parse(&words)?;
            let pod = pods.find(&uuid)?;
            let store = g.store()?;
            let name = with_fetcher(
                g,
                &store,
                w.pull_policy,
                w.limits,
                w.quiet,
                |fetcher, progress| {
                    rukt_pods::app::add(&store, fetcher, &pod, &w.app, progress, g.debug)
                        .with_context(|| {
                            format!("cannot add {} to pod {}", w.app.image_input, pod.uuid)
                        })
                },
            )?;
            writeln!(std::io::stdout(), "{name}")?;
        }
        AppCommand::Start { uuid, app } => {
            let pod = pods.find(&uuid)?;
            rukt_pods::app::start(&pod, &app, g.debug)?;
        }
        AppCommand::Stop {
            uuid,
            app,
            force,
            timeout,
        } => {
            let pod = pods.find(&uuid)?;
            let opts = StopOptions {
                force,
                timeout: Duration::from_secs(timeout),
                debug: g.debug,
            };
            rukt_pods::app::stop(&pod, &app, opts)?;
        }
        AppCommand::Rm { uuid, app } => {
            let pod = pods.find(&uuid)?;
            rukt_pods::app::rm(&pod, &app, g.debug)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
