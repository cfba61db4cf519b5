//! The argv of each stage1 entrypoint: built by stage0 (`to_argv`), parsed
//! by stage1 (`parse`). A stage1 is one executable; the entrypoint is its
//! first argument: `STAGE1 run [--debug] [--interactive] UUID`, and so on.
//!
//! Unknown `--flags` are an error, so a stage0 must pass only flags of the
//! interface version the stage1 declared (`STAGE1 interface-version`). The
//! `app-*` entrypoints of version 2 are in [`app`].

mod app;

use std::ffi::OsString;

pub use app::{AppArgs, AppStopArgs};

/// The entrypoints, of every version ([`Entrypoint::since`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entrypoint {
    /// Start the pod (exec'd by stage0; becomes the pod).
    Run,
    /// Run a command inside a running app.
    Enter,
    /// Ask a running pod to stop.
    Stop,
    /// Free stage1's resources of an exited pod before stage0 removes it.
    Gc,
    /// Print the interface versions this stage1 speaks, one per line.
    InterfaceVersion,
    /// Version 2: print what this stage1 enforces ([`crate::Stage1Features`]).
    Features,
    /// Version 2: start supervising an app just added to a running pod.
    AppAdd,
    /// Version 2: start an added or stopped app of a running pod.
    AppStart,
    /// Version 2: stop one app of a running pod.
    AppStop,
    /// Version 2: forget a stopped app of a running pod.
    AppRm,
    /// Version 2: apply an app's resources, just changed in the manifest.
    AppUpdate,
}

impl Entrypoint {
    /// Every entrypoint.
    pub const ALL: [Entrypoint; 11] = [
        Entrypoint::Run,
        Entrypoint::Enter,
        Entrypoint::Stop,
        Entrypoint::Gc,
        Entrypoint::InterfaceVersion,
        Entrypoint::Features,
        Entrypoint::AppAdd,
        Entrypoint::AppStart,
        Entrypoint::AppStop,
        Entrypoint::AppRm,
        Entrypoint::AppUpdate,
    ];

    /// The argv word.
    pub fn name(self) -> &'static str {
        match self {
            Entrypoint::Run => "run",
            Entrypoint::Enter => "enter",
            Entrypoint::Stop => "stop",
            Entrypoint::Gc => "gc",
            Entrypoint::InterfaceVersion => "interface-version",
            Entrypoint::Features => "features",
            Entrypoint::AppAdd => "app-add",
            Entrypoint::AppStart => "app-start",
            Entrypoint::AppStop => "app-stop",
            Entrypoint::AppRm => "app-rm",
            Entrypoint::AppUpdate => "app-update",
        }
    }

    /// Parses the argv word.
    pub fn from_name(s: &str) -> Option<Entrypoint> {
        Entrypoint::ALL.into_iter().find(|e| e.name() == s)
    }

    /// The interface version that introduced it: a stage1 that does not
    /// list that version does not have it.
    pub fn since(self) -> u32 {
        match self {
            Entrypoint::Run
            | Entrypoint::Enter
            | Entrypoint::Stop
            | Entrypoint::Gc
            | Entrypoint::InterfaceVersion => 1,
            Entrypoint::Features
            | Entrypoint::AppAdd
            | Entrypoint::AppStart
            | Entrypoint::AppStop
            | Entrypoint::AppRm
            | Entrypoint::AppUpdate => 2,
        }
    }
}

/// Malformed entrypoint arguments.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgsError {
    /// The first argument is not an entrypoint.
    #[error("unknown entrypoint {0:?}")]
    Entrypoint(String),
    /// A flag this interface version does not have.
    #[error("unknown flag {0:?}")]
    Flag(String),
    /// A flag's value is missing or malformed.
    #[error("invalid value for {0}")]
    Value(&'static str),
    /// A required argument is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// An argument is not UTF-8.
    #[error("arguments must be UTF-8")]
    Utf8,
}

/// `run [--debug] [--interactive] UUID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunArgs {
    /// Log debug output.
    pub debug: bool,
    /// Give the app the caller's terminal.
    pub interactive: bool,
    /// The pod.
    pub uuid: String,
}

/// `enter [--debug] --pid=PID --app=NAME UUID [-- CMD ARGS...]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnterArgs {
    /// Log debug output.
    pub debug: bool,
    /// The pod's main PID, from the pid file.
    pub pid: u32,
    /// The app to enter.
    pub app: String,
    /// The pod.
    pub uuid: String,
    /// What to run; empty means a shell (`/bin/sh`).
    pub command: Vec<String>,
}

/// `stop [--debug] [--force] [--timeout=SECONDS] UUID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopArgs {
    /// Log debug output.
    pub debug: bool,
    /// Kill at once instead of asking.
    pub force: bool,
    /// Seconds to wait after asking before killing.
    pub timeout_secs: u64,
    /// The pod.
    pub uuid: String,
}

/// `gc [--debug] UUID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcArgs {
    /// Log debug output.
    pub debug: bool,
    /// The pod.
    pub uuid: String,
}

fn strs(args: &[OsString]) -> Result<Vec<&str>, ArgsError> {
    args.iter()
        .map(|a| a.to_str().ok_or(ArgsError::Utf8))
        .collect()
}

/// Splits `args` (after the entrypoint word) into flags and positionals;
/// everything after `--` is a positional.
fn split<'a>(args: &[&'a str]) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut flags = Vec::new();
    let mut pos = Vec::new();
    let mut it = args.iter();
    for a in it.by_ref() {
        if *a == "--" {
            break;
        }
        if a.starts_with("--") {
            flags.push(*a)
        } else {
            pos.push(*a)
        }
    }
    pos.extend(it);
    (flags, pos)
}

fn expect_entry(args: &[&str], want: Entrypoint) -> Result<(), ArgsError> {
    match args.first() {
        Some(e) if *e == want.name() => Ok(()),
        Some(e) => Err(ArgsError::Entrypoint((*e).to_string())),
        None => Err(ArgsError::Missing("entrypoint")),
    }
}

impl RunArgs {
    /// The argv after the stage1 path.
    pub fn to_argv(&self) -> Vec<OsString> {
        let mut v = vec![Entrypoint::Run.name().into()];
        if self.debug {
            v.push("--debug".into());
        }
        if self.interactive {
            v.push("--interactive".into());
        }
        v.push(self.uuid.clone().into());
        v
    }

    /// Parses argv after the stage1 path.
    pub fn parse(args: &[OsString]) -> Result<RunArgs, ArgsError> {
        let args = strs(args)?;
        expect_entry(&args, Entrypoint::Run)?;
        let (flags, pos) = split(&args[1..]);
        let mut r = RunArgs {
            debug: false,
            interactive: false,
            uuid: String::new(),
        };
        for f in flags {
            match f {
                "--debug" => r.debug = true,
                "--interactive" => r.interactive = true,
                other => return Err(ArgsError::Flag(other.to_string())),
            }
        }
        r.uuid = one_uuid(&pos)?;
        Ok(r)
    }
}

fn one_uuid(pos: &[&str]) -> Result<String, ArgsError> {
    match pos {
        [u] => Ok((*u).to_string()),
        [] => Err(ArgsError::Missing("UUID")),
        _ => Err(ArgsError::Value("UUID")),
    }
}

/// The value of `--timeout=SECONDS`.
fn timeout(v: &str) -> Result<u64, ArgsError> {
    v.parse().map_err(|_| ArgsError::Value("--timeout"))
}

/// The seconds `stop` and `app-stop` wait when `--timeout` is not given.
pub const DEFAULT_STOP_TIMEOUT_SECS: u64 = 10;

impl EnterArgs {
    /// The argv after the stage1 path.
    pub fn to_argv(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![Entrypoint::Enter.name().into()];
        if self.debug {
            v.push("--debug".into());
        }
        v.push(format!("--pid={}", self.pid).into());
        v.push(format!("--app={}", self.app).into());
        v.push(self.uuid.clone().into());
        v.push("--".into());
        v.extend(self.command.iter().map(OsString::from));
        v
    }

    /// Parses argv after the stage1 path.
    pub fn parse(args: &[OsString]) -> Result<EnterArgs, ArgsError> {
        let args = strs(args)?;
        expect_entry(&args, Entrypoint::Enter)?;
        let rest = &args[1..];
        let dash = rest.iter().position(|a| *a == "--").unwrap_or(rest.len());
        let (head, command) = (&rest[..dash], rest.get(dash + 1..).unwrap_or(&[]));
        let (flags, pos) = split(head);
        let mut r = EnterArgs {
            debug: false,
            pid: 0,
            app: String::new(),
            uuid: String::new(),
            command: Vec::new(),
        };
        for f in flags {
            if f == "--debug" {
                r.debug = true;
            } else if let Some(v) = f.strip_prefix("--pid=") {
                r.pid = v.parse().map_err(|_| ArgsError::Value("--pid"))?;
            } else if let Some(v) = f.strip_prefix("--app=") {
                r.app = v.to_string();
            } else {
                return Err(ArgsError::Flag(f.to_string()));
            }
        }
        if r.pid == 0 {
            return Err(ArgsError::Missing("--pid"));
        }
        if r.app.is_empty() {
            return Err(ArgsError::Missing("--app"));
        }
        r.uuid = one_uuid(&pos)?;
        r.command = command.iter().map(|s| (*s).to_string()).collect();
        Ok(r)
    }
}

impl StopArgs {
    /// The argv after the stage1 path.
    pub fn to_argv(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![Entrypoint::Stop.name().into()];
        if self.debug {
            v.push("--debug".into());
        }
        if self.force {
            v.push("--force".into());
        }
        v.push(format!("--timeout={}", self.timeout_secs).into());
        v.push(self.uuid.clone().into());
        v
    }

    /// Parses argv after the stage1 path.
    pub fn parse(args: &[OsString]) -> Result<StopArgs, ArgsError> {
        let args = strs(args)?;
        expect_entry(&args, Entrypoint::Stop)?;
        let (flags, pos) = split(&args[1..]);
        let mut r = StopArgs {
            debug: false,
            force: false,
            timeout_secs: DEFAULT_STOP_TIMEOUT_SECS,
            uuid: String::new(),
        };
        for f in flags {
            match f {
                "--debug" => r.debug = true,
                "--force" => r.force = true,
                f => match f.strip_prefix("--timeout=") {
                    Some(v) => r.timeout_secs = timeout(v)?,
                    None => return Err(ArgsError::Flag(f.to_string())),
                },
            }
        }
        r.uuid = one_uuid(&pos)?;
        Ok(r)
    }
}

impl GcArgs {
    /// The argv after the stage1 path.
    pub fn to_argv(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![Entrypoint::Gc.name().into()];
        if self.debug {
            v.push("--debug".into());
        }
        v.push(self.uuid.clone().into());
        v
    }

    /// Parses argv after the stage1 path.
    pub fn parse(args: &[OsString]) -> Result<GcArgs, ArgsError> {
        let args = strs(args)?;
        expect_entry(&args, Entrypoint::Gc)?;
        let (flags, pos) = split(&args[1..]);
        let mut r = GcArgs {
            debug: false,
            uuid: String::new(),
        };
        for f in flags {
            match f {
                "--debug" => r.debug = true,
                other => return Err(ArgsError::Flag(other.to_string())),
            }
        }
        r.uuid = one_uuid(&pos)?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entrypoint_has_a_name_and_a_version() {
        for e in Entrypoint::ALL {
            assert_eq!(Entrypoint::from_name(e.name()), Some(e));
            assert!((crate::MIN_INTERFACE_VERSION..=crate::INTERFACE_VERSION).contains(&e.since()));
        }
        assert_eq!(Entrypoint::Run.since(), 1);
        assert_eq!(Entrypoint::Features.since(), 2);
    }

    const UUID: &str = "0f1e2d3c-4b5a-4978-8a9b-0c1d2e3f4a5b";

    #[test]
    fn run_round_trips() {
        for (debug, interactive) in [(false, false), (true, false), (true, true)] {
            let a = RunArgs {
                debug,
                interactive,
                uuid: UUID.into(),
            };
            assert_eq!(RunArgs::parse(&a.to_argv()).unwrap(), a);
        }
    }

    #[test]
    fn enter_round_trips_with_dashes_in_the_command() {
        let a = EnterArgs {
            debug: true,
            pid: 42,
            app: "web".into(),
            uuid: UUID.into(),
            command: vec!["/bin/sh".into(), "-c".into(), "echo --pid=1 -- x".into()],
        };
        assert_eq!(EnterArgs::parse(&a.to_argv()).unwrap(), a);
        let shell = EnterArgs {
            command: vec![],
            ..a
        };
        assert_eq!(EnterArgs::parse(&shell.to_argv()).unwrap(), shell);
    }

    #[test]
    fn stop_and_gc_round_trip() {
        let s = StopArgs {
            debug: false,
            force: true,
            timeout_secs: 3,
            uuid: UUID.into(),
        };
        assert_eq!(StopArgs::parse(&s.to_argv()).unwrap(), s);
        let g = GcArgs {
            debug: true,
            uuid: UUID.into(),
        };
        assert_eq!(GcArgs::parse(&g.to_argv()).unwrap(), g);
    }

    #[test]
    fn refuses_unknown_flags_and_entrypoints() {
        let argv: Vec<OsString> = ["run", "--net=host", UUID]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(
            RunArgs::parse(&argv),
            Err(ArgsError::Flag("--net=host".into()))
        );
        let argv: Vec<OsString> = ["enter", UUID].iter().map(OsString::from).collect();
        assert!(RunArgs::parse(&argv).is_err());
        assert_eq!(Entrypoint::from_name("gc"), Some(Entrypoint::Gc));
        assert_eq!(Entrypoint::from_name("app-add"), Some(Entrypoint::AppAdd));
        assert_eq!(Entrypoint::from_name("app-move"), None);
    }
}
