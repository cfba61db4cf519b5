//! `rukt app add|start|stop|rm`: the apps of a running pod.

mod attach;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use rukt_pods::StopOptions;

use super::Globals;
use super::fetch::with_fetcher;
use super::pods::existing_pods;
use crate::cli::words::AppWords;
use crate::cli::{AppCommand, AppTarget, Format};

pub fn run(g: &Globals, cmd: AppCommand) -> Result<ExitCode> {
    let pods = existing_pods(g);
    match cmd {
        AppCommand::Sandbox { detach, words } => return super::run::sandbox(g, &words, detach),
        AppCommand::List { uuid, format } => {
            let pod = pods.find(&uuid)?;
            let apps = rukt_pods::app_status::list(&pod)
                .with_context(|| format!("cannot list the apps of pod {}", pod.uuid))?;
            print_apps(&apps, format, false)?;
        }
        AppCommand::Status {
            target: AppTarget { uuid, app },
            format,
        } => {
            let pod = pods.find(&uuid)?;
            let info = rukt_pods::app_status::status(&pod, &app)?;
            print_apps(std::slice::from_ref(&info), format, true)?;
        }
        AppCommand::Attach {
            target: AppTarget { uuid, app },
            no_stdin,
        } => {
            attach::attach(&pods.find(&uuid)?, &app, no_stdin)?;
        }
        AppCommand::Update {
            target: AppTarget { uuid, app },
            limits,
        } => {
            let pod = pods.find(&uuid)?;
            let manifest = pod.manifest()?;
            let current = manifest
                .app(&app)
                .map(|a| a.resources)
                .with_context(|| format!("pod {} has no app {app:?}", pod.uuid))?;
            let limits = crate::cli::words::update_limits(current, &limits)?;
            rukt_pods::app::update(&pod, &app, limits, g.debug)
                .with_context(|| format!("cannot update app {app}"))?;
        }
        AppCommand::Exec {
            target: AppTarget { uuid, app },
            cmd,
        } => {
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
        AppCommand::Start {
            target: AppTarget { uuid, app },
        } => {
            let pod = pods.find(&uuid)?;
            rukt_pods::app::start(&pod, &app, g.debug)?;
        }
        AppCommand::Stop {
            target: AppTarget { uuid, app },
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
        AppCommand::Rm {
            target: AppTarget { uuid, app },
        } => {
            let pod = pods.find(&uuid)?;
            rukt_pods::app::rm(&pod, &app, g.debug)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints apps as a table or JSON: an array, or the object of the `one` app.
fn print_apps(apps: &[rukt_pods::app_status::AppInfo], format: Format, one: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json if one => writeln!(out, "{}", serde_json::to_string_pretty(&apps[0])?)?,
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
