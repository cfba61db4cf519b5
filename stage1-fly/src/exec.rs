//! Becoming the app (or an `enter` command): chroot into its root, its
//! working directory, its user, exactly the environment of the manifest, no
//! stray descriptors, then `execve`, searching a bare command name in the
//! `PATH` of that environment inside the chroot, as `execvp` would.

use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{BorrowedFd, RawFd};
use std::path::PathBuf;

use anyhow::Context;
use rukt_contract::App;
use rustix::io::Errno;
use tracing::debug;

use crate::user;

/// `PATH` for apps whose environment has none (as Docker and rkt).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What to become.
pub struct Launch<'a> {
    /// The app's root filesystem.
    pub root: BorrowedFd<'a>,
    /// The app: working directory and ids.
    pub app: &'a App,
    /// The command and its arguments.
    pub argv: &'a [String],
    /// The complete environment, `NAME=value`.
    pub env: Vec<String>,
}

/// The app's environment: the manifest's, in order, plus the default `PATH`
/// if it sets none.
pub fn environment(app: &App) -> Vec<String> {
    let mut env = app.environment.clone();
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    env
}

/// Sets `name` in `env`, replacing any earlier value.
pub fn set_var(env: &mut Vec<String>, name: &str, value: &str) {
    let prefix = format!("{name}=");
    env.retain(|e| !e.starts_with(&prefix));
    env.push(format!("{prefix}{value}"));
}

/// Chroots into the app's root and the rest; returns only on failure. Every
/// descriptor above 2 is closed by the exec except `keep` (the pod lock,
/// socket activation's descriptors).
pub fn launch(launch: &Launch<'_>, keep: &[RawFd]) -> anyhow::Result<Infallible> {
    rustix::process::fchdir(launch.root).context("cannot change into the app's root")?;
    rustix::process::chroot(".").context("cannot chroot into the app's root")?;
    let dir = &launch.app.working_dir;
    rustix::process::chdir(dir.as_str())
        .with_context(|| format!("cannot change to the working directory {dir}"))?;
    user::become_user(launch.app)?;
    // Marked close-on-exec, not closed: they stay usable until the exec
    // succeeds (to undo things if it fails), then are gone.
    rukt_sys::fds::cloexec_except(keep)
        .context("cannot mark descriptors close-on-exec and pass the pod lock on")?;
    // An ignored signal stays ignored across exec (Rust's SIGPIPE, a
    // background job's SIGINT and SIGQUIT): every one at its default.
    rukt_sys::signals::reset_dispositions();
    Err(execvpe(launch.argv, &launch.env))
}

/// Executes `argv` with `env`, searching `argv[0]` in `env`'s `PATH` if it
/// has no `/`. Returns the error if nothing could be executed.
fn execvpe(argv: &[String], env: &[String]) -> anyhow::Error {
    let Some(name) = argv.first() else {
        return anyhow::anyhow!("the app has no command to execute");
    };
    let (args, envp) = match (cstrings(argv), cstrings(env)) {
        (Ok(a), Ok(e)) => (a, e),
        _ => {
            return anyhow::anyhow!(
                "cannot execute {name}: a NUL byte in its arguments or environment"
            );
        }
    };
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    // As execvp: ENOENT, ENOTDIR and EACCES move on to the next directory
    // (remembering EACCES); any other error is the answer.
    let mut error = Errno::NOENT;
    for candidate in candidates(name, path) {
        let Ok(file) = CString::new(candidate.into_os_string().into_encoded_bytes()) else {
            continue;
        };
        debug!("executing {file:?}");
        let e = match nix::unistd::execve(&file, &args, &envp) {
            Err(e) => Errno::from_raw_os_error(e as i32),
            Ok(never) => match never {},
        };
        match e {
            Errno::NOENT | Errno::NOTDIR => {}
            Errno::ACCESS => error = e,
            other => {
                error = other;
                break;
            }
        }
    }
    anyhow::Error::new(std::io::Error::from(error)).context(format!("cannot execute {name}"))
}

/// The files `execvp` would try for `name` with `path`: `name` itself if it
/// contains a `/`, otherwise `name` in each directory of `path` (empty
/// entries, which would mean the working directory, are skipped).
pub fn candidates(name: &str, path: &str) -> Vec<PathBuf> {
    if name.contains('/') {
        return vec![PathBuf::from(name)];
    }
    if name.is_empty() {
        return Vec::new();
    }
    path.split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| PathBuf::from(dir).join(name))
        .collect()
}

fn cstrings(strings: &[String]) -> Result<Vec<CString>, std::ffi::NulError> {
    strings.iter().map(|s| CString::new(s.as_bytes())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_are_searched_in_path() {
        assert_eq!(
            candidates("sh", "/usr/bin::/bin"),
            [PathBuf::from("/usr/bin/sh"), PathBuf::from("/bin/sh")]
        );
        assert_eq!(candidates("./run", "/bin"), [PathBuf::from("./run")]);
        assert_eq!(candidates("/bin/sh", ""), [PathBuf::from("/bin/sh")]);
        assert!(candidates("sh", "").is_empty());
        assert!(candidates("", "/bin").is_empty());
    }

    fn app(environment: &[&str]) -> App {
        App {
            name: "web".into(),
            image: rukt_contract::ImageInfo {
                name: "busybox".into(),
                id: "sha256:aa".into(),
                manifest: "sha256:bb".into(),
                layers: vec![],
            },
            exec: vec!["sh".into()],
            working_dir: "/".into(),
            uid: 0,
            gid: 0,
            supplementary_gids: vec![],
            environment: environment.iter().map(|s| s.to_string()).collect(),
            readonly_rootfs: false,
            mounts: vec![],
            resources: Default::default(),
            capabilities: vec![],
            seccomp: None,
            oom_score_adj: None,
            log_file: None,
            security: Default::default(),
            stdin: false,
            stdin_once: false,
            stop_signal: None,
            tty: false,
        }
    }

    #[test]
    fn environment_is_the_manifests_with_a_default_path() {
        assert_eq!(
            environment(&app(&["A=1", "B=2"])),
            ["A=1", "B=2", &format!("PATH={DEFAULT_PATH}")]
        );
        assert_eq!(environment(&app(&["PATH=/x", "A=1"])), ["PATH=/x", "A=1"]);
        // Not fooled by a variable that merely starts with PATH.
        assert_eq!(environment(&app(&["PATHS=/x"])).len(), 2);
    }

    #[test]
    fn set_var_replaces() {
        let mut env = vec!["TERM=dumb".to_string(), "A=1".to_string()];
        set_var(&mut env, "TERM", "xterm");
        assert_eq!(env, ["A=1", "TERM=xterm"]);
    }

    #[test]
    fn failed_exec_names_the_command() {
        let e = execvpe(
            &["no-such-command-rukt".into()],
            &["PATH=/nonexistent".into()],
        );
        assert_eq!(
            format!("{e:#}"),
            format!(
                "cannot execute no-such-command-rukt: {}",
                std::io::Error::from(Errno::NOENT)
            )
        );
        assert!(format!("{:#}", execvpe(&[], &[])).contains("no command"));
    }
}
