//! The `main` of a stage1 engine: parse the entrypoint and its arguments,
//! set up logging, run the engine's handler, and turn the outcome into the
//! process's exit code, printing an error once as `<engine>: <context>:
//! <cause>` with exit code 254. Every engine has the same command line, so
//! it is written once here, and so are the answers of `interface-version`
//! and `features` (from [`Engine::interface_versions`] and
//! [`Engine::FEATURES`]). An entrypoint of a version the engine does not
//! list is unknown to it, as to a stage1 built for that older version.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::{
    AppArgs, AppStopArgs, ArgsError, EXIT_STAGE1_FAILURE, EnterArgs, Entrypoint, Feature, GcArgs,
    INTERFACE_VERSION, MIN_INTERFACE_VERSION, RunArgs, Stage1Features, StopArgs,
};

/// What the default `app-*` handlers fail with.
const NO_MUTABLE_PODS: &str = "this engine does not support mutable pods";

/// A stage1 engine's entrypoints.
pub trait Engine {
    /// The binary's name, for error messages (`rukt-stage1-nspawn`).
    const NAME: &'static str;
    /// What the engine enforces, as `features` reports it. Declare only
    /// what the code does: stage0 lets through exactly these.
    const FEATURES: &'static [Feature];

    /// `run`: the pod's exit code once it is over (an engine that execs the
    /// app never returns on success).
    fn run(args: &RunArgs) -> anyhow::Result<u8>;
    /// `enter`: the command's exit code.
    fn enter(args: &EnterArgs) -> anyhow::Result<u8>;
    /// `stop`.
    fn stop(args: &StopArgs) -> anyhow::Result<()>;
    /// `gc`.
    fn gc(args: &GcArgs) -> anyhow::Result<()>;

    /// `app-add` (version 2): supervise an app stage0 just added to the
    /// running pod's manifest. Engines without [`Feature::MutablePods`]
    /// keep this default, which fails.
    fn app_add(_args: &AppArgs) -> anyhow::Result<()> {
        bail!(NO_MUTABLE_PODS)
    }
    /// `app-start` (version 2).
    fn app_start(_args: &AppArgs) -> anyhow::Result<()> {
        bail!(NO_MUTABLE_PODS)
    }
    /// `app-stop` (version 2).
    fn app_stop(_args: &AppStopArgs) -> anyhow::Result<()> {
        bail!(NO_MUTABLE_PODS)
    }
    /// `app-rm` (version 2).
    fn app_rm(_args: &AppArgs) -> anyhow::Result<()> {
        bail!(NO_MUTABLE_PODS)
    }
    /// `app-update` (version 2): apply the app's resources as the manifest
    /// now has them.
    fn app_update(_args: &AppArgs) -> anyhow::Result<()> {
        bail!(NO_MUTABLE_PODS)
    }

    /// The interface versions the engine speaks, printed by
    /// `interface-version`: by default every version of this crate.
    fn interface_versions() -> Vec<u32> {
        (MIN_INTERFACE_VERSION..=INTERFACE_VERSION).collect()
    }

    /// What `features` prints: the versions and [`Engine::FEATURES`].
    fn features() -> Stage1Features {
        Stage1Features {
            interface_versions: Self::interface_versions(),
            enforces: Self::FEATURES.iter().copied().collect(),
        }
    }

    /// The `tracing` filter (`EnvFilter` syntax); `None` logs nothing.
    fn log_filter(debug: bool) -> Option<&'static str> {
        debug.then_some("debug")
    }
}

/// Runs engine `E` on this process's arguments.
pub fn main<E: Engine>() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    match dispatch::<E>(&args) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{}: {e:#}", E::NAME);
            ExitCode::from(EXIT_STAGE1_FAILURE)
        }
    }
}

/// Runs the entrypoint named by `args[0]`; returns the exit code.
pub fn dispatch<E: Engine>(args: &[OsString]) -> anyhow::Result<u8> {
    let word = args.first().map(|a| a.to_string_lossy().into_owned());
    let versions = E::interface_versions();
    let entry = match word.as_deref().map(Entrypoint::from_name) {
        Some(Some(entry)) if versions.contains(&entry.since()) => entry,
        Some(_) => return Err(ArgsError::Entrypoint(word.unwrap_or_default())).context("usage"),
        None => return Err(ArgsError::Missing("entrypoint")).context("usage"),
    };
    match entry {
        Entrypoint::InterfaceVersion | Entrypoint::Features => {
            if args.len() > 1 {
                bail!("usage: {} takes no arguments", entry.name());
            }
            write!(std::io::stdout(), "{}", answer::<E>(entry))
                .context("cannot write to stdout")?;
            Ok(0)
        }
        Entrypoint::Run => {
            let args = RunArgs::parse(args).context("usage")?;
            init_logging::<E>(args.debug);
            E::run(&args).inspect_err(|e| {
                let flavor = E::NAME.strip_prefix("rukt-stage1-").unwrap_or(E::NAME);
                super::events::PodEvents::of_uuid(&args.uuid, flavor)
                    .pod_exited(EXIT_STAGE1_FAILURE, Some(&format!("{e:#}")));
            })
        }
        Entrypoint::Enter => {
            let args = EnterArgs::parse(args).context("usage")?;
            init_logging::<E>(args.debug);
            E::enter(&args)
        }
        Entrypoint::Stop => {
            let args = StopArgs::parse(args).context("usage")?;
            init_logging::<E>(args.debug);
            E::stop(&args).map(|()| 0)
        }
        Entrypoint::Gc => {
            let args = GcArgs::parse(args).context("usage")?;
            init_logging::<E>(args.debug);
            E::gc(&args).map(|()| 0)
        }
        Entrypoint::AppAdd | Entrypoint::AppStart | Entrypoint::AppRm | Entrypoint::AppUpdate => {
            let (entry, args) = AppArgs::parse(args).context("usage")?;
            init_logging::<E>(args.debug);
            match entry {
                Entrypoint::AppAdd => E::app_add(&args),
                Entrypoint::AppStart => E::app_start(&args),
                Entrypoint::AppUpdate => E::app_update(&args),
                _ => E::app_rm(&args),
            }
            .map(|()| 0)
        }
        Entrypoint::AppStop => {
            let args = AppStopArgs::parse(args).context("usage")?;
            init_logging::<E>(args.debug);
            E::app_stop(&args).map(|()| 0)
        }
    }
}

/// The stdout of `interface-version` (one version per line) or `features`
/// (one line of JSON).
fn answer<E: Engine>(entry: Entrypoint) -> String {
    if entry == Entrypoint::Features {
        format!("{}\n", E::features().to_json())
    } else {
        E::interface_versions()
            .iter()
            .map(|v| format!("{v}\n"))
            .collect()
    }
}

/// Tracing events to stderr, filtered by the engine's choice.
fn init_logging<E: Engine>(debug: bool) {
    if let Some(filter) = E::log_filter(debug) {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test engine; with `OLD`, one built for version 1.
    struct Test<const OLD: bool>;
    type Nothing = Test<false>;
    type Old = Test<true>;

    impl<const OLD: bool> Engine for Test<OLD> {
        const NAME: &'static str = "test";
        const FEATURES: &'static [Feature] = if OLD {
            &[]
        } else {
            &[Feature::Seccomp, Feature::Hostname]
        };
        fn run(_: &RunArgs) -> anyhow::Result<u8> {
            Ok(7)
        }
        fn enter(_: &EnterArgs) -> anyhow::Result<u8> {
            Ok(0)
        }
        fn stop(_: &StopArgs) -> anyhow::Result<()> {
            Ok(())
        }
        fn gc(_: &GcArgs) -> anyhow::Result<()> {
            Ok(())
        }
        fn interface_versions() -> Vec<u32> {
            if OLD {
                vec![1]
            } else {
                (MIN_INTERFACE_VERSION..=INTERFACE_VERSION).collect()
            }
        }
    }

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn answers_interface_version_and_features() {
        assert_eq!(answer::<Nothing>(Entrypoint::InterfaceVersion), "1\n2\n");
        let json = answer::<Nothing>(Entrypoint::Features);
        assert!(json.ends_with('\n'));
        let f = Stage1Features::from_json(json.as_bytes()).unwrap();
        assert_eq!(f.interface_versions, [1, 2]);
        assert_eq!(f.enforces, [Feature::Hostname, Feature::Seccomp].into());
        assert_eq!(answer::<Old>(Entrypoint::InterfaceVersion), "1\n");
        let e = dispatch::<Nothing>(&argv(&["features", "x"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: features takes no arguments");
    }

    #[test]
    fn mutable_pods_fail_clearly_by_default() {
        let e = dispatch::<Nothing>(&argv(&["app-add", "--app=a", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), NO_MUTABLE_PODS);
        let e = dispatch::<Nothing>(&argv(&["app-stop", "--force", "--app=a", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), NO_MUTABLE_PODS);
        let e = dispatch::<Nothing>(&argv(&["app-start", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: missing --app");
    }

    #[test]
    fn a_version_1_engine_knows_no_version_2_entrypoint() {
        for word in ["features", "app-add", "app-start", "app-stop", "app-rm"] {
            let e = dispatch::<Old>(&argv(&[word, "--app=a", "u"])).unwrap_err();
            assert_eq!(
                format!("{e:#}"),
                format!("usage: unknown entrypoint \"{word}\"")
            );
        }
        assert_eq!(dispatch::<Old>(&argv(&["run", "u"])).unwrap(), 7);
    }

    #[test]
    fn refuses_unknown_and_missing_entrypoints() {
        let e = dispatch::<Nothing>(&argv(&["app-move", "x"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: unknown entrypoint \"app-move\"");
        let e = dispatch::<Nothing>(&[]).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: missing entrypoint");
    }

    #[test]
    fn refuses_malformed_arguments_before_touching_anything() {
        let e = dispatch::<Nothing>(&argv(&["run", "--net=host", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: unknown flag \"--net=host\"");
        let e = dispatch::<Nothing>(&argv(&["stop", "--timeout=soon", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: invalid value for --timeout");
        let e = dispatch::<Nothing>(&argv(&["enter", "--app=a", "u"])).unwrap_err();
        assert_eq!(format!("{e:#}"), "usage: missing --pid");
        let e = dispatch::<Nothing>(&argv(&["interface-version", "2"])).unwrap_err();
        assert!(format!("{e:#}").contains("takes no arguments"));
    }

    #[test]
    fn runs_the_handler() {
        assert_eq!(dispatch::<Nothing>(&argv(&["run", "u"])).unwrap(), 7);
    }
}
