//! Pods under test: an image with a busybox userland and a named user, a store with that
//! image fetched, pods started with `--stage1=fly` (to completion or in the background, their
//! output read line by line), `list`/`status` parsed, and a guard that removes every pod and
//! every mount below the store when the test ends, also when it fails.
//!
//! Removal safety matters here: fly bind-mounts the host's `/dev`, `/proc`, `/sys` and host
//! volumes below the store, so deleting the store with a mount left in it would delete host
//! files through it. The guard therefore unmounts first and leaks the store directory (with a
//! note) rather than delete it while anything is still mounted below it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::fixtures::unique;

/// An app's script that prints `ready`, ignores SIGTERM and, on SIGQUIT, says `got QUIT` and
/// exits 0: only its own stop signal ends it before a SIGKILL.
pub const QUITS_ON_SIGQUIT: &str = "trap '' TERM; trap 'echo got QUIT; exit 0' QUIT; \
                                    echo ready; while :; do sleep 0.1; done";
use crate::image::{Compression, Entry, ImageSpec, Layer, busybox_layer, write_layout};
use crate::note;
use crate::rukt::{Output, Rukt, run_command};

/// The named user of the pod image (`/etc/passwd`: `app:x:1234:1234`).
pub const APP_USER: &str = "app";
/// Its uid and gid.
pub const APP_UID: u32 = 1234;
/// A file only the pod image has, and its content.
pub const MARKER_PATH: &str = "/etc/rukt-pod-marker";
pub const MARKER_TEXT: &str = "only in the pod image";
/// The image config's defaults.
pub const IMAGE_ENV: &str = "IMAGE_VAR=from-image";
pub const IMAGE_WORKDIR: &str = "/srv/app";
/// What the image's default command prints: `default cmd in $PWD with $IMAGE_VAR as $(id -u)`.
pub const IMAGE_CMD: &[&str] = &[
    "/bin/sh",
    "-c",
    "echo \"default cmd in $PWD with $IMAGE_VAR as $(id -u)\"",
];

/// Applets the pod image links on top of `busybox_layer`'s.
const EXTRA_APPLETS: &[&str] = &[
    "sed", "grep", "kill", "tr", "head", "wc", "readlink", "hostname", "cut",
];

/// The pod image: the busybox base plus a layer with more applets, a named user (`app`, 1234),
/// a marker file, and `Cmd`/`Env`/`WorkingDir` defaults (no `User`: root).
pub fn pod_image() -> ImageSpec {
    let mut entries = vec![Entry::dir("bin")];
    for applet in EXTRA_APPLETS {
        entries.push(Entry::symlink(&format!("bin/{applet}"), "busybox"));
    }
    entries.extend([
        Entry::dir("etc"),
        Entry::file(
            "etc/passwd",
            format!(
                "root:x:0:0:root:/root:/bin/sh\n\
                 {APP_USER}:x:{APP_UID}:{APP_UID}:app:/home/app:/bin/sh\n\
                 nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
            ),
        ),
        Entry::file(
            "etc/group",
            format!("root:x:0:\n{APP_USER}:x:{APP_UID}:\nnogroup:x:65534:\n"),
        ),
        Entry::file(
            MARKER_PATH.trim_start_matches('/'),
            format!("{MARKER_TEXT}\n"),
        ),
        Entry::dir("home"),
        Entry::dir("home/app").owner(u64::from(APP_UID), u64::from(APP_UID)),
        Entry::dir("srv"),
        Entry::dir("srv/app"),
        Entry::file("srv/app/README", "the working directory\n"),
    ]);
    ImageSpec::new(vec![
        busybox_layer(),
        Layer::new(Compression::Gzip, entries),
    ])
    .cmd(IMAGE_CMD)
    .env(IMAGE_ENV)
    .working_dir(IMAGE_WORKDIR)
}

/// How long a test waits for a pod to reach a point (a line of output, a state).
pub const WAIT: Duration = Duration::from_secs(30);

/// A store with the pod image fetched from an OCI layout (tags `pod`, and `pod-user`, the same
/// image with `User: app`), cleaned up when dropped (see the module doc).
pub struct PodStore {
    rukt: Option<Rukt>,
    layout: TempDir,
    /// `--stage1=FLAVOR`, passed by `pod_args`.
    stage1_flag: String,
    /// `oci:LAYOUT:pod`.
    pub image: String,
    /// The image ID of `image`.
    pub image_id: String,
}

impl Default for PodStore {
    fn default() -> Self {
        Self::new()
    }
}

impl PodStore {
    /// A fresh store with the pod image fetched, for `--stage1=fly`.
    pub fn new() -> PodStore {
        Self::with_stage1("fly", Vec::new())
    }

    /// A fresh store for `--stage1=STAGE1` whose pod image has `extra_layers` on top.
    pub fn with_stage1(stage1: &str, extra_layers: Vec<Layer>) -> PodStore {
        let layout = tempfile::Builder::new()
            .prefix("rukt-pod-layout-")
            .tempdir()
            .expect("layout tempdir");
        let spec = |user: Option<&str>| {
            let mut spec = pod_image();
            spec.layers.extend(extra_layers.iter().cloned());
            match user {
                Some(u) => spec.user(u),
                None => spec,
            }
        };
        let l = write_layout(layout.path(), "pod", &[spec(None)]);
        write_layout(layout.path(), "pod-user", &[spec(Some(APP_USER))]);
        let rukt = Rukt::new();
        let image = l.reference();
        let image_id = rukt.fetch(&image);
        assert_eq!(image_id, l.image().id());
        PodStore {
            rukt: Some(rukt),
            layout,
            stage1_flag: format!("--stage1={stage1}"),
            image,
            image_id,
        }
    }

    /// Adds `spec` to the store's OCI layout under `tag`; returns its `oci:LAYOUT:TAG`
    /// reference (fetched by the first `run` that names it).
    pub fn add_image(&self, tag: &str, spec: ImageSpec) -> String {
        write_layout(self.layout.path(), tag, &[spec]).reference()
    }

    /// Runs every later command in the network namespace at `path` ([`Rukt::set_netns`]).
    pub fn set_netns(&mut self, path: &Path) {
        self.rukt
            .as_mut()
            .expect("the store is alive")
            .set_netns(path);
    }

    /// The rukt driver of this store.
    pub fn rukt(&self) -> &Rukt {
        self.rukt.as_ref().expect("the store is alive")
    }

    /// The store directory.
    pub fn store(&self) -> &Path {
        self.rukt().store()
    }

    /// `oci:LAYOUT:TAG` of another tag of the pod layout.
    pub fn image_tag(&self, tag: &str) -> String {
        format!("oci:{}:{tag}", self.layout.path().display())
    }

    /// `rukt app attach UUID --app APP`: waits `settle` for it to connect,
    /// writes `input` and closes it, and returns what the app said on its
    /// stdout and stderr meanwhile (the command must succeed).
    pub fn attach(
        &self,
        uuid: &str,
        app: &str,
        input: &[u8],
        settle: Duration,
    ) -> (String, String) {
        use std::io::Write;
        let mut cmd = self.rukt().command(&["app", "attach", uuid, "--app", app]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("rukt app attach");
        let mut stdin = child.stdin.take().expect("a stdin pipe");
        std::thread::sleep(settle);
        stdin.write_all(input).expect("write to attach");
        drop(stdin);
        let out = child.wait_with_output().expect("rukt app attach");
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success(), "{stdout}\n{stderr}");
        (stdout, stderr)
    }

    /// Runs `rukt ARGS...` to completion (with the harness timeout).
    pub fn run(&self, args: &[&str]) -> Output {
        self.rukt().run(args)
    }

    /// Runs and asserts exit 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.rukt().ok(args)
    }

    /// Runs `rukt --dir NAME ARGS...` from the store's parent directory: the store named by a
    /// relative path, as a user in that directory would type it.
    pub fn run_relative(&self, args: &[&str]) -> Output {
        let store = self.store();
        let mut cmd = Command::new(crate::rukt::binary());
        cmd.current_dir(store.parent().expect("the store has a parent"))
            .arg("--dir")
            .arg(store.file_name().expect("the store has a name"))
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .env("RUKT_CONFIG_DIR", self.rukt().config_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_command(cmd)
    }

    /// `rukt run --stage1=fly IMAGE APP_ARGS...` to completion.
    pub fn run_pod(&self, app_args: &[&str]) -> Output {
        self.run(&self.pod_args("run", &[], app_args))
    }

    /// `rukt run --stage1=fly IMAGE --name NAME --exec /bin/sh -- -c SCRIPT` to completion.
    pub fn sh(&self, name: &str, script: &str) -> Output {
        self.run_pod(&["--name", name, "--exec", "/bin/sh", "--", "-c", script])
    }

    /// `rukt run --stage1=fly IMAGE --name as-user --user USER --exec /bin/sh -- -c SCRIPT`.
    pub fn sh_as(&self, user: &str, script: &str) -> Output {
        self.run_pod(&[
            "--name", "as-user", "--user", user, "--exec", "/bin/sh", "--", "-c", script,
        ])
    }

    /// `VERB --stage1=FLAVOR [POD_FLAGS] IMAGE APP_ARGS...` as words (`fly` unless the store
    /// was made `with_stage1`).
    pub fn pod_args<'a>(
        &'a self,
        verb: &'a str,
        pod_flags: &[&'a str],
        app_args: &[&'a str],
    ) -> Vec<&'a str> {
        let mut args = vec![verb, self.stage1_flag.as_str()];
        args.extend_from_slice(pod_flags);
        args.push(&self.image);
        args.extend_from_slice(app_args);
        args
    }

    /// Starts a pod (app `name`) that prints `ready` and becomes `sleep 1000`, and waits for
    /// `ready`.
    pub fn sleeping_pod(&self, pod_flags: &[&str], name: &str) -> RunningPod {
        let script = "echo ready; exec sleep 1000";
        let mut pod = self.spawn_pod(
            pod_flags,
            &["--name", name, "--exec", "/bin/sh", "--", "-c", script],
        );
        pod.wait_line("ready");
        pod
    }

    /// Starts `rukt run --stage1=fly --uuid-file-save F POD_FLAGS... IMAGE APP_ARGS...` in the
    /// background and waits for the UUID file.
    pub fn spawn_pod(&self, pod_flags: &[&str], app_args: &[&str]) -> RunningPod {
        self.spawn_pod_with_env(pod_flags, app_args, &[])
    }

    /// [`PodStore::spawn_pod`] with `env` added to rukt's environment.
    pub fn spawn_pod_with_env(
        &self,
        pod_flags: &[&str],
        app_args: &[&str],
        env: &[(&str, String)],
    ) -> RunningPod {
        let dir = tempfile::Builder::new()
            .prefix("rukt-pod-uuid-")
            .tempdir()
            .expect("uuid tempdir");
        let uuid_file = dir.path().join("uuid");
        let uuid_arg = uuid_file.to_str().expect("utf-8 temp path").to_owned();
        let mut flags = vec!["--uuid-file-save", uuid_arg.as_str()];
        flags.extend_from_slice(pod_flags);
        let args = self.pod_args("run", &flags, app_args);
        let mut cmd = self.rukt().command(&args);
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
        let command = format!("{cmd:?}");
        let mut child = cmd.spawn().expect("spawning rukt run");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = pipe.read_to_end(&mut buf);
                String::from_utf8_lossy(&buf).into_owned()
            })
        });
        let mut pod = RunningPod {
            command,
            child,
            uuid: String::new(),
            lines,
            seen: Vec::new(),
            stderr,
            status: None,
            _uuid_dir: dir,
        };
        let start = Instant::now();
        loop {
            if let Ok(text) = std::fs::read_to_string(&uuid_file)
                && text.ends_with('\n')
            {
                pod.uuid = text.trim().to_owned();
                break;
            }
            if let Some(status) = pod.child.try_wait().expect("polling rukt run") {
                pod.status = Some(status);
                let stderr = pod.take_stderr();
                panic!(
                    "{} ended ({status}) before saving its UUID; stderr:\n{stderr}",
                    pod.command
                );
            }
            assert!(
                start.elapsed() < WAIT,
                "{} saved no UUID within {WAIT:?}",
                pod.command
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        pod
    }

    /// `rukt list --format json`, parsed.
    pub fn list(&self) -> Vec<Value> {
        let stdout = self.ok(&["list", "--format", "json"]);
        match serde_json::from_str(&stdout) {
            Ok(Value::Array(records)) => records,
            other => panic!("`list --format json` printed no JSON array: {other:?}\n{stdout}"),
        }
    }

    /// The `list` record of pod `uuid`, if listed.
    pub fn listed(&self, uuid: &str) -> Option<Value> {
        self.list().into_iter().find(|r| r["uuid"] == uuid)
    }

    /// `rukt status [FLAGS...] UUID` (text), as `key=value` pairs.
    pub fn status_with(&self, flags: &[&str], uuid: &str) -> BTreeMap<String, String> {
        let mut args = vec!["status"];
        args.extend_from_slice(flags);
        args.push(uuid);
        parse_status(&self.ok(&args))
    }

    /// `rukt status UUID`.
    pub fn status(&self, uuid: &str) -> BTreeMap<String, String> {
        self.status_with(&[], uuid)
    }

    /// `rukt status --wait=30s UUID`: the pod's status once it has exited.
    pub fn wait_exited(&self, uuid: &str) -> BTreeMap<String, String> {
        let st = self.status_with(&["--wait=30s"], uuid);
        assert_eq!(
            st.get("exited").map(String::as_str),
            Some("true"),
            "status --wait returned before pod {uuid} exited: {st:?}"
        );
        st
    }

    /// Pod directories under `<store>/pods/<state>/`, whatever the state.
    pub fn pod_dirs(&self) -> Vec<PathBuf> {
        pod_dirs(self.store())
    }

    /// Mount points at or below the store.
    pub fn mounts(&self) -> Vec<PathBuf> {
        mounts_below(self.store())
    }

    /// Asserts that nothing is mounted at or below the store.
    pub fn assert_no_mounts(&self, when: &str) {
        let left = self.mounts();
        assert!(
            left.is_empty(),
            "{when}: mounts left below the store:\n{}",
            left.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// The directory of pod `uuid` (whatever its state), if it exists.
    pub fn pod_dir(&self, uuid: &str) -> Option<PathBuf> {
        self.pod_dirs()
            .into_iter()
            .find(|p| p.file_name().is_some_and(|n| n == uuid))
    }
}

impl Drop for PodStore {
    fn drop(&mut self) {
        let Some(rukt) = self.rukt.take() else { return };
        let store = rukt.store().to_path_buf();
        // Never panic here: this also runs while a failed test unwinds.
        let mut gc = rukt.command(&["gc", "--grace-period=0s"]);
        gc.stdout(Stdio::null()).stderr(Stdio::null());
        if let Ok(mut child) = gc.spawn() {
            let _ = wait_timeout(&mut child, Duration::from_secs(30));
        }
        unmount_all_below(&store);
        let left = mounts_below(&store);
        if left.is_empty() {
            drop(rukt);
        } else {
            note(&format!(
                "leaving the store {} in place: still mounted below it: {left:?}",
                store.display()
            ));
            std::mem::forget(rukt);
        }
    }
}

/// A `rukt run` started in the background: its UUID, its stdout line by line, its exit. Killed
/// (SIGKILL) and reaped when dropped, if still running.
pub struct RunningPod {
    /// The command, for messages.
    pub command: String,
    /// The `rukt` process: with fly, the pod's app itself.
    pub child: Child,
    /// The pod's UUID (from `--uuid-file-save`).
    pub uuid: String,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Option<std::thread::JoinHandle<String>>,
    status: Option<ExitStatus>,
    _uuid_dir: TempDir,
}

impl RunningPod {
    /// The PID of the `rukt` process the test started.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a stdout line equal to `line` (trimmed); returns the lines before it.
    pub fn wait_line(&mut self, line: &str) -> Vec<String> {
        self.wait_line_where(|l| l == line)
    }

    /// Waits for a stdout line matching `pred`; returns every line read up to it.
    pub fn wait_line_where(&mut self, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = pred(l.trim());
                    self.seen.push(l);
                    if hit {
                        return self.seen.clone();
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "{}: expected line not printed within {WAIT:?}; stdout so far: {:?}",
                    self.command, self.seen
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.wait();
                    let stderr = self.take_stderr();
                    panic!(
                        "{}: ended ({status}) without printing the expected line; stdout: {:?}\nstderr:\n{stderr}",
                        self.command, self.seen
                    )
                }
            }
        }
    }

    /// Waits (at most `WAIT`) for the process to end; kills it and panics on timeout.
    pub fn wait(&mut self) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        match wait_timeout(&mut self.child, WAIT) {
            Some(s) => {
                self.status = Some(s);
                s
            }
            None => {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not end within {WAIT:?}", self.command);
            }
        }
    }

    /// Waits for the end; returns the exit code as a shell shows it (128+N for signal N).
    pub fn wait_code(&mut self) -> i32 {
        shell_code(self.wait())
    }

    /// `rukt stop --timeout=SECS`, for a pod whose apps run [`QUITS_ON_SIGQUIT`] (with
    /// `--stop-signal=SIGQUIT`) or end on SIGTERM: asserts the pod ended well (code 0) before
    /// the timeout's SIGKILL, which is what SIGTERM alone would have brought.
    pub fn stop_expecting_quit(&mut self, pods: &PodStore, timeout_secs: u64) {
        let start = Instant::now();
        let timeout = format!("--timeout={timeout_secs}");
        pods.ok(&["stop", &timeout, &self.uuid]);
        let lines = self.wait_line("got QUIT");
        assert_eq!(
            self.wait_code(),
            0,
            "the apps ended on their own: {lines:?}"
        );
        assert!(
            start.elapsed() < Duration::from_secs(timeout_secs * 2 / 3),
            "SIGQUIT ended it, not the SIGKILL after the timeout"
        );
    }

    /// Everything printed on stdout, once the process has ended.
    pub fn stdout(&mut self) -> Vec<String> {
        self.wait();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(l);
        }
        self.seen.clone()
    }

    /// stderr, once the process has ended (empty the second time).
    pub fn take_stderr(&mut self) -> String {
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }

    /// Sends signal `sig` (a name such as `TERM`) to the `rukt` process.
    pub fn signal(&self, sig: &str) {
        send_signal(self.pid(), sig);
    }
}

impl Drop for RunningPod {
    fn drop(&mut self) {
        if self.status.is_none() && matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = wait_timeout(&mut self.child, Duration::from_secs(10));
    }
}

/// The exit code a shell would report: the code, or 128+N when killed by signal N.
pub fn shell_code(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        (None, None) => panic!("neither an exit code nor a signal: {status}"),
    }
}

/// `kill -SIG PID`, asserting it worked.
pub fn send_signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("running kill");
    assert!(st.success(), "kill -{sig} {pid} failed: {st}");
}

/// Waits for `child` at most `limit`; `None` if it is still running.
pub fn wait_timeout(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => return None,
        }
    }
}

/// Parses `status` text output (`key=value` per line).
pub fn parse_status(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// Pod directories under `<store>/pods/<state>/`.
pub fn pod_dirs(store: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(states) = std::fs::read_dir(store.join("pods")) else {
        return out;
    };
    for state in states.flatten() {
        if let Ok(pods) = std::fs::read_dir(state.path()) {
            out.extend(pods.flatten().map(|e| e.path()));
        }
    }
    out.sort();
    out
}

/// Mount points at or below `dir` (canonicalised), deepest first, as
/// util-linux's `findmnt` reads them from `/proc/self/mountinfo` of this
/// mount namespace: an oracle independent of rukt's own mount reader.
/// Panics if they cannot be read.
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let out = Command::new("findmnt")
        .args(["--json", "--list", "--output", "TARGET"])
        .stderr(Stdio::inherit())
        .output()
        .expect("cannot run findmnt to read the mount table");
    assert!(out.status.success(), "findmnt failed: {}", out.status);
    let table: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("findmnt printed malformed JSON");
    let mut found: Vec<PathBuf> = table["filesystems"]
        .as_array()
        .expect("findmnt's JSON has no filesystems")
        .iter()
        .map(|fs| PathBuf::from(fs["target"].as_str().expect("a mount without a target")))
        .filter(|m| m.starts_with(&dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found.dedup();
    found
}

/// Lazily unmounts (`umount -l`) everything at or below `dir`, deepest first, a few rounds
/// for stacked mounts. Never panics.
pub fn unmount_all_below(dir: &Path) {
    for _ in 0..8 {
        let mounts = mounts_below(dir);
        if mounts.is_empty() {
            return;
        }
        for m in mounts {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&m)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A host directory shared with a pod as a `kind=host` volume, with helpers for the "gate"
/// pattern: the app waits until the test creates a file in it.
pub struct HostDir {
    dir: TempDir,
}

impl Default for HostDir {
    fn default() -> Self {
        Self::new()
    }
}

impl HostDir {
    /// A fresh directory, mode 0755 (apps running as other users can look into it).
    pub fn new() -> HostDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::Builder::new()
            .prefix("rukt-pod-host-")
            .tempdir()
            .expect("host volume tempdir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod host volume");
        HostDir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `--volume NAME,kind=host,source=DIR[,readOnly=true]`.
    pub fn volume_flag(&self, name: &str, read_only: bool) -> String {
        let mut v = format!("{name},kind=host,source={}", self.path().display());
        if read_only {
            v.push_str(",readOnly=true");
        }
        v
    }

    /// Creates `DIR/go`: a gate app (see `gate_script`) goes on.
    pub fn open_gate(&self) {
        std::fs::write(self.path().join("go"), b"go\n").expect("opening the gate");
    }
}

/// A script that prints `ready`, waits until `/gate/go` exists (the test calls
/// `HostDir::open_gate` on the directory mounted at `/gate`), then exits with `code`.
pub fn gate_script(code: i32) -> String {
    format!("echo ready; while [ ! -e /gate/go ]; do sleep 0.05; done; exit {code}")
}

/// A host process with a unique `argv[0]`, for apps to find through `/proc`; killed when
/// dropped.
pub struct HostProcess {
    pub child: Child,
    /// Its unique `argv[0]`.
    pub marker: String,
}

impl HostProcess {
    /// `sleep 300` with argv[0] `rukt-host-proc-<pid>-<n>`.
    pub fn sleep() -> HostProcess {
        let marker = unique("rukt-host-proc");
        let child = Command::new("sleep")
            .arg0(&marker)
            .arg("300")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning sleep");
        HostProcess { child, marker }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
