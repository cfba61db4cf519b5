//! The argv of version 2's entrypoints for mutable pods: `app-add`,
//! `app-start`, `app-rm`, `app-update` ([`AppArgs`]) and `app-stop`
//! ([`AppStopArgs`]). stage0 runs each in the pod directory of a running
//! pod, after rewriting the manifest for `app-add` (the app is in it, its
//! root mounted) and `app-update` (the app's new resources).

use std::ffi::OsString;

use super::{
    ArgsError, DEFAULT_STOP_TIMEOUT_SECS, Entrypoint, expect_entry, one_uuid, split, strs, timeout,
};

/// `app-add|app-start|app-rm|app-update [--debug] --app=NAME UUID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppArgs {
    /// Log debug output.
    pub debug: bool,
    /// The app.
    pub app: String,
    /// The pod.
    pub uuid: String,
}

/// `app-stop [--debug] [--force] [--timeout=SECONDS] --app=NAME UUID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppStopArgs {
    /// Log debug output.
    pub debug: bool,
    /// Kill at once instead of asking.
    pub force: bool,
    /// Seconds to wait after asking before killing.
    pub timeout_secs: u64,
    /// The app.
    pub app: String,
    /// The pod.
    pub uuid: String,
}

/// The entrypoints [`AppArgs`] is the argv of.
const APP_ENTRYPOINTS: [Entrypoint; 4] = [
    Entrypoint::AppAdd,
    Entrypoint::AppStart,
    Entrypoint::AppRm,
    Entrypoint::AppUpdate,
];

/// `--app=NAME`'s value, checked: it names paths in the pod directory.
fn app_name(v: &str) -> Result<String, ArgsError> {
    if crate::valid_app_name(v) {
        Ok(v.to_string())
    } else {
        Err(ArgsError::Value("--app"))
    }
}

/// How `app-stop` stops: `--force`, `--timeout`.
struct Stopping {
    force: bool,
    timeout_secs: u64,
}

/// The argv of an `app-*` entrypoint; `stopping` for `app-stop` only.
fn argv(
    entry: Entrypoint,
    debug: bool,
    stopping: Option<Stopping>,
    app: &str,
    uuid: &str,
) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![entry.name().into()];
    if debug {
        v.push("--debug".into());
    }
    if let Some(s) = stopping {
        if s.force {
            v.push("--force".into());
        }
        v.push(format!("--timeout={}", s.timeout_secs).into());
    }
    v.push(format!("--app={app}").into());
    v.push(uuid.into());
    v
}

/// An `app-*` argv after its entrypoint word, parsed: `(debug, stopping,
/// app, uuid)`. `--force` and `--timeout` are flags only where `stop`.
fn parse_rest(rest: &[&str], stop: bool) -> Result<(bool, Stopping, String, String), ArgsError> {
    let (flags, pos) = split(rest);
    let mut debug = false;
    let mut stopping = Stopping {
        force: false,
        timeout_secs: DEFAULT_STOP_TIMEOUT_SECS,
    };
    let mut app = None;
    for f in flags {
        if f == "--debug" {
            debug = true;
        } else if let Some(v) = f.strip_prefix("--app=") {
            app = Some(app_name(v)?);
        } else if stop && f == "--force" {
            stopping.force = true;
        } else if let Some(v) = f.strip_prefix("--timeout=").filter(|_| stop) {
            stopping.timeout_secs = timeout(v)?;
        } else {
            return Err(ArgsError::Flag(f.to_string()));
        }
    }
    let app = app.ok_or(ArgsError::Missing("--app"))?;
    Ok((debug, stopping, app, one_uuid(&pos)?))
}

impl AppArgs {
    /// The argv after the stage1 path, for `entry` (`app-add`, `app-start`
    /// or `app-rm`).
    ///
    /// # Panics
    /// For any other entrypoint: that is a bug of the caller.
    pub fn to_argv(&self, entry: Entrypoint) -> Vec<OsString> {
        assert!(
            APP_ENTRYPOINTS.contains(&entry),
            "AppArgs is not the argv of {}",
            entry.name()
        );
        argv(entry, self.debug, None, &self.app, &self.uuid)
    }

    /// Parses argv after the stage1 path: which of the three entrypoints,
    /// and its arguments.
    pub fn parse(args: &[OsString]) -> Result<(Entrypoint, AppArgs), ArgsError> {
        let args = strs(args)?;
        let word = args.first().ok_or(ArgsError::Missing("entrypoint"))?;
        let entry = Entrypoint::from_name(word)
            .filter(|e| APP_ENTRYPOINTS.contains(e))
            .ok_or_else(|| ArgsError::Entrypoint((*word).to_string()))?;
        let (debug, _, app, uuid) = parse_rest(&args[1..], false)?;
        Ok((entry, AppArgs { debug, app, uuid }))
    }
}

impl AppStopArgs {
    /// The argv after the stage1 path.
    pub fn to_argv(&self) -> Vec<OsString> {
        let stopping = Stopping {
            force: self.force,
            timeout_secs: self.timeout_secs,
        };
        argv(
            Entrypoint::AppStop,
            self.debug,
            Some(stopping),
            &self.app,
            &self.uuid,
        )
    }

    /// Parses argv after the stage1 path.
    pub fn parse(args: &[OsString]) -> Result<AppStopArgs, ArgsError> {
        let args = strs(args)?;
        expect_entry(&args, Entrypoint::AppStop)?;
        let (debug, stopping, app, uuid) = parse_rest(&args[1..], true)?;
        let Stopping {
            force,
            timeout_secs,
        } = stopping;
        Ok(AppStopArgs {
            debug,
            force,
            timeout_secs,
            app,
            uuid,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b";

    fn argv(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn app_args_round_trip_for_each_entrypoint() {
        for entry in APP_ENTRYPOINTS {
            for debug in [false, true] {
                let a = AppArgs {
                    debug,
                    app: "web-2".into(),
                    uuid: UUID.into(),
                };
                assert_eq!(AppArgs::parse(&a.to_argv(entry)).unwrap(), (entry, a));
            }
        }
    }

    #[test]
    fn app_stop_round_trips() {
        for (debug, force, timeout_secs) in [(false, false, 10), (true, true, 0), (false, true, 3)]
        {
            let a = AppStopArgs {
                debug,
                force,
                timeout_secs,
                app: "db".into(),
                uuid: UUID.into(),
            };
            assert_eq!(AppStopArgs::parse(&a.to_argv()).unwrap(), a);
        }
        let defaults = AppStopArgs::parse(&argv(&["app-stop", "--app=db", UUID])).unwrap();
        assert_eq!(defaults.timeout_secs, DEFAULT_STOP_TIMEOUT_SECS);
        assert!(!defaults.force);
    }

    #[test]
    fn refuses_what_is_not_an_app_request() {
        assert_eq!(
            AppArgs::parse(&argv(&["app-add", UUID])),
            Err(ArgsError::Missing("--app"))
        );
        assert_eq!(
            AppArgs::parse(&argv(&["app-add", "--app=../x", UUID])),
            Err(ArgsError::Value("--app"))
        );
        assert_eq!(
            AppArgs::parse(&argv(&["app-stop", "--app=a", UUID])),
            Err(ArgsError::Entrypoint("app-stop".into()))
        );
        assert_eq!(
            AppArgs::parse(&argv(&["app-rm", "--force", "--app=a", UUID])),
            Err(ArgsError::Flag("--force".into()))
        );
        assert_eq!(
            AppStopArgs::parse(&argv(&["app-stop", "--app=a"])),
            Err(ArgsError::Missing("UUID"))
        );
        assert_eq!(
            AppStopArgs::parse(&argv(&["app-stop", "--timeout=x", "--app=a", UUID])),
            Err(ArgsError::Value("--timeout"))
        );
    }

    #[test]
    #[should_panic(expected = "not the argv of run")]
    fn app_args_are_not_run_args() {
        let a = AppArgs {
            debug: false,
            app: "a".into(),
            uuid: UUID.into(),
        };
        let _ = a.to_argv(Entrypoint::Run);
    }
}
