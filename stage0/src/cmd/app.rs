//! `rukt app add|start|stop|rm`: the apps of a running pod.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use rukt_pods::StopOptions;

use super::Globals;
use super::fetch::with_fetcher;
use super::pods::existing_pods;
use crate::cli::words::AppWords;
use crate::cli::{AppCommand, Format};

pub fn run(g: &Globals, cmd: AppCommand) -> Result<ExitCode> {
    let pods = existing_pods(g);
    match cmd {
        AppCommand::Sandbox { detach, words } => return super::run::sandbox(g, &words, detach),
        AppCommand::List { uuid, format } => {
            let pod = pods.find(&uuid)?;
            let apps = rukt_pods::app_status::list(&pod)
                .with_context(|| format!("cannot list the apps of pod {}", pod.uuid))?;
            print_apps(&apps, format)?;
        }
        AppCommand::Status { uuid, app, format } => {
            let pod = pods.find(&uuid)?;
            let info = rukt_pods::app_status::status(&pod, &app)?;
            print_apps(std::slice::from_ref(&info), format)?;
        }
        AppCommand::Exec { uuid, app, cmd } => {
            let pod = pods.find(&uuid)?;
            let req = rukt_pods::EnterRequest {
                app: Some(app),
                command: cmd,
                debug: g.debug,
            };
            return Err(anyhow::anyhow!(rukt_pods::enter(&pod, &req)));
        }
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

/// Prints apps as a table or (one object per app, or the one app) JSON.
fn print_apps(apps: &[rukt_pods::app_status::AppInfo], format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json if apps.len() == 1 => {
            writeln!(out, "{}", serde_json::to_string_pretty(&apps[0])?)?
        }
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(apps)?)?,
        Format::Table => {
            writeln!(out, "NAME\tSTATE\tEXIT\tIMAGE")?;
            for a in apps {
                let code = a.exit_code.map_or("-".to_string(), |c| c.to_string());
                writeln!(out, "{}\t{}\t{code}\t{}", a.name, a.state, a.image)?;
            }
        }
    }
    Ok(())
}
