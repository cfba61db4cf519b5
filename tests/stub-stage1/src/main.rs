//! `rukt-stage1-stub`: a stage1 for tests. It speaks the contract through
//! `rukt_contract::runtime::engine` like the real engines, runs nothing, and
//! records every call it gets, so stage0's side of every entrypoint is
//! tested without a real engine.
//!
//! **Record.** Each call appends one line of JSON to `$RUKT_STUB_RECORD`
//! (default `stage1/record.jsonl` in the pod directory; `interface-version`
//! and `features` only when the variable is set), written before the
//! entrypoint runs ([`record::gather`]):
//!
//! ```json
//! {"entrypoint":"run","args":{"debug":false,"interactive":false,"uuid":"…"},"usage_error":null,
//!  "argv":["run","…"],"env":{"RUKT_LOCK_FD":"3","LISTEN_FDS":null,"LISTEN_FDNAMES":null,
//!  "LISTEN_PID":null,"NOTIFY_SOCKET":null},"listen_fds":null,"pid":4242,"cwd":"/var/lib/rukt/pods/run/…",
//!  "fds":[{"fd":0,"target":"/dev/null"},{"fd":3,"target":"/var/lib/rukt/pods/run/…"}],
//!  "lock_held":true,"lock_error":null,
//!  "manifest":{"interface_version":2,"revision":0,"apps":["web"],"networks":[],
//!              "asked":["hostname"],"unenforced":[]}}
//! ```
//!
//! `listen_fds` is what `LISTEN_*` describe for the stub's own PID
//! (`{"count":1,"names":["http"]}`, or `null`); `lock_held` is `null`
//! without `RUKT_LOCK_FD`; `manifest` is `null` but for
//! `run` (`{"error": …}` if it did not load); `unenforced` lists what the
//! manifest asks ([`rukt_contract::PodManifest::features_asked`]) that the
//! stub does not declare, which stage0 should have refused.
//!
//! **Behaviour**, from the environment ([`config`]): `RUKT_STUB_VERSIONS`
//! (`1`: a version 1 stage1, without `features` or `app-*`),
//! `RUKT_STUB_FEATURES` (the names to declare; default all),
//! `RUKT_STUB_EXIT` (`run`'s exit code), `RUKT_STUB_FAIL` (entrypoints that
//! fail with 254), `RUKT_STUB_HOLD` (`run` stays running until `stop`). `run` takes over the lock, checks the manifest's version
//! is one it speaks, writes `pid`, `status/<app>` (the exit code) for each
//! app and `ready`, and exits with the code; `enter` exits 0; `stop`, `gc`
//! and `app-*` exit 0.
//!
//! Like every stage1 it depends on `rukt-contract` only.

mod config;
mod record;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use rukt_contract::runtime::engine::{self, Engine};
use rukt_contract::runtime::{load_manifest, write_atomic};
use rukt_contract::{
    AppArgs, AppStopArgs, EXIT_STAGE1_FAILURE, EnterArgs, Entrypoint, Feature, GcArgs, PID_FILE,
    READY_FILE, RunArgs, STATUS_DIR, Stage1Features, StopArgs, app_status,
};

struct Stub;

/// Fails if the test asked `entry` to.
fn maybe_fail(entry: Entrypoint) -> anyhow::Result<()> {
    if config::fails(entry) {
        bail!("{} fails as {} asks", entry.name(), config::ENV_FAIL);
    }
    Ok(())
}

impl Engine for Stub {
    const NAME: &'static str = "rukt-stage1-stub";
    /// All of them by default; [`Engine::features`] is what counts.
    const FEATURES: &'static [Feature] = &Feature::ALL;

    fn run(args: &RunArgs) -> anyhow::Result<u8> {
        maybe_fail(Entrypoint::Run)?;
        let pod = load_manifest(&args.uuid)?;
        let versions = config::versions();
        if !versions.contains(&pod.interface_version) {
            bail!(
                "the pod manifest asks for interface version {}; this stage1 speaks {versions:?}",
                pod.interface_version
            );
        }
        if record::lock().is_none() {
            bail!("no pod lock to hold (see the record's lock_error)");
        }
        let code = config::exit_code()?;
        let dir = std::fs::File::open(".").context("cannot open the pod directory")?;
        write_atomic(&dir, PID_FILE, std::process::id().to_string().as_bytes())
            .context("cannot write the pid file")?;
        write_atomic(&dir, READY_FILE, b"").context("cannot write the ready file")?;
        if config::hold() {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while !std::path::Path::new(config::RELEASE_FILE).exists()
                && std::time::Instant::now() < until
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
        std::fs::create_dir_all(STATUS_DIR).context("cannot create the status directory")?;
        let status = std::fs::File::open(STATUS_DIR).context("cannot open the status directory")?;
        for app in &pod.apps {
            write_atomic(&status, &app.name, code.to_string().as_bytes())
                .with_context(|| format!("cannot write {}", app_status(&app.name)))?;
        }
        Ok(code)
    }
    fn enter(_: &EnterArgs) -> anyhow::Result<u8> {
        maybe_fail(Entrypoint::Enter).map(|()| 0)
    }
    fn stop(_: &StopArgs) -> anyhow::Result<()> {
        maybe_fail(Entrypoint::Stop)?;
        std::fs::create_dir_all(rukt_contract::STAGE1_DIR)
            .and_then(|()| std::fs::write(config::RELEASE_FILE, b""))
            .context("cannot release the held run")
    }
    fn gc(_: &GcArgs) -> anyhow::Result<()> {
        maybe_fail(Entrypoint::Gc)
    }
    fn app_add(_: &AppArgs) -> anyhow::Result<()> {
        maybe_fail(Entrypoint::AppAdd)
    }
    fn app_start(_: &AppArgs) -> anyhow::Result<()> {
        maybe_fail(Entrypoint::AppStart)
    }
    fn app_stop(_: &AppStopArgs) -> anyhow::Result<()> {
        maybe_fail(Entrypoint::AppStop)
    }
    fn app_rm(_: &AppArgs) -> anyhow::Result<()> {
        maybe_fail(Entrypoint::AppRm)
    }

    fn interface_versions() -> Vec<u32> {
        config::versions()
    }
    fn features() -> Stage1Features {
        Stage1Features {
            interface_versions: config::versions(),
            enforces: config::features().into_iter().collect(),
        }
    }
}

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let entry = argv
        .first()
        .and_then(|w| Entrypoint::from_name(&w.to_string_lossy()));
    if let Some(path) = config::record_path(entry) {
        let line = record::gather(&argv, &config::features());
        if let Err(e) = record::append(&path, &line) {
            let _ = writeln!(std::io::stderr(), "{}: {e:#}", Stub::NAME);
            return ExitCode::from(EXIT_STAGE1_FAILURE);
        }
    }
    engine::main::<Stub>()
}
