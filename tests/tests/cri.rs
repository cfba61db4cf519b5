//! The CRI server (`rukt cri`, docs/cri.md) driven by the real `crictl` (cri-tools v1.36.0,
//! `/opt/rukt-test/bin/crictl`, installed by scripts/setup.sh) over its unix socket: version and
//! info, images pulled from a local registry (ids, every tag and digest, status by tag, id,
//! short id and digest, removal of every tag, the image filesystem's usage rising and falling),
//! state that survives a `kill -9` of the server, and a busybox sandbox on the nspawn engine
//! through its whole life: runp, create (with a read-only host mount), start, ps, inspect,
//! the container's CRI log file and its rotation (ReopenContainerLog), exec --sync (output,
//! exit code, timeout and the command killed), stats, stop, rm, stopp, rmp, and what is left
//! NotFound or OK. What crictl cannot send, or checks for itself first, goes through a small
//! Python grpcio client with stubs from the vendored proto (`tests/py/cri_client.py`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rukt_tests::image::write_layout;
use rukt_tests::pods::{PodStore, pod_image};
use rukt_tests::pty::PtySession;
use rukt_tests::push::push;
use rukt_tests::registry::Registry;
use rukt_tests::rukt::{Output, binary, run_command};
use serde_json::Value;

const CRICTL: &str = "/opt/rukt-test/bin/crictl";

/// `rukt cri` on a socket of its own, over a [`PodStore`]'s store and configuration.
struct Cri {
    child: Option<Child>,
    sock: PathBuf,
    store: PathBuf,
    config: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cri {
    fn start(pods: &PodStore) -> Cri {
        let dir = tempfile::Builder::new()
            .prefix("rukt-cri-")
            .tempdir()
            .unwrap();
        let mut cri = Cri {
            child: None,
            // A directory rukt-cri makes itself (0750).
            sock: dir.path().join("run/cri.sock"),
            store: pods.store().to_path_buf(),
            config: pods.rukt().config_dir().to_path_buf(),
            _dir: dir,
        };
        cri.restart();
        cri
    }

    /// Starts (again) and waits until it answers.
    fn restart(&mut self) {
        let child = Command::new(binary())
            .arg("--dir")
            .arg(&self.store)
            .arg("--config-dir")
            .arg(&self.config)
            .arg("--insecure-options=http")
            .arg("cri")
            .arg("--listen")
            .arg(format!("unix://{}", self.sock.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let start = Instant::now();
        while std::os::unix::net::UnixStream::connect(&self.sock).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "rukt cri did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, as a crash.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn crictl(&self, args: &[&str]) -> Output {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        run_command(cmd)
    }

    /// `crictl ARGS...` on this server, to spawn.
    fn command(&self, args: &[&str]) -> Command {
        assert!(
            Path::new(CRICTL).exists(),
            "{CRICTL} missing: scripts/setup.sh installs cri-tools v1.36.0"
        );
        let endpoint = format!("unix://{}", self.sock.display());
        let mut cmd = Command::new(CRICTL);
        cmd.args([
            "--runtime-endpoint",
            &endpoint,
            "--image-endpoint",
            &endpoint,
        ])
        .args(["--timeout", "60s"])
        .args(args)
        .env("CRI_CONFIG_FILE", "/dev/null");
        cmd
    }

    /// Runs crictl and asserts success; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.crictl(args);
        assert!(out.success(), "crictl {args:?} failed:\n{out}");
        out.stdout
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("crictl {args:?}: {e}: {out}"))
    }
}

impl Drop for Cri {
    fn drop(&mut self) {
        self.kill();
        // Sandboxes outlive the server: stop what a failed test left running, so the
        // store's guard can remove it.
        let pods = rukt_pods_running(&self.store);
        for uuid in pods {
            let _ = Command::new(binary())
                .arg("--dir")
                .arg(&self.store)
                .args(["stop", "--force", &uuid])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// The UUIDs of the store's running pods.
fn rukt_pods_running(store: &Path) -> Vec<String> {
    let out = Command::new(binary())
        .arg("--dir")
        .arg(store)
        .args(["list", "--format", "json"])
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["state"] == "running")
        .filter_map(|p| p["uuid"].as_str().map(str::to_string))
        .collect()
}

/// A registry with the pod image under two tags and a second image.
struct Images {
    registry: Registry,
    id: String,
    manifest: String,
    other_id: String,
    _layouts: tempfile::TempDir,
}

fn images() -> Images {
    let registry = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let layout = write_layout(dir.path(), "pod", &[pod_image()]);
    push(&layout.dir, "pod", &registry, "cri/pod:1");
    push(&layout.dir, "pod", &registry, "cri/pod:2");
    let other = write_layout(
        &dir.path().join("other"),
        "other",
        &[pod_image().env("OTHER=1")],
    );
    push(&other.dir, "other", &registry, "cri/other:1");
    Images {
        id: layout.image().id().to_string(),
        manifest: layout.image().manifest_digest.clone(),
        other_id: other.image().id().to_string(),
        registry,
        _layouts: dir,
    }
}

fn used_bytes(cri: &Cri) -> u64 {
    let info = cri.json(&["imagefsinfo", "-o", "json"]);
    let fs = &info["status"]["imageFilesystems"][0];
    assert!(fs["timestamp"].as_str().unwrap_or("0") != "0", "{info}");
    fs["usedBytes"]["value"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no usedBytes: {info}"))
}

#[test]
fn version_info_and_images_through_crictl() {
    let pods = PodStore::with_stage1("nspawn", Vec::new());
    let img = images();
    let cri = Cri::start(&pods);
    let sock_dir = cri.sock.parent().unwrap();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    assert_eq!(
        std::fs::metadata(sock_dir).unwrap().permissions().mode() & 0o777,
        0o750
    );
    assert_eq!(std::fs::metadata(&cri.sock).unwrap().mode() & 0o777, 0o660);

    let v = cri.ok(&["version"]);
    assert!(v.contains("RuntimeName:  rukt"), "{v}");
    assert!(v.contains("RuntimeApiVersion:  v1"), "{v}");
    let info = cri.json(&["info"]);
    let conditions = info["status"]["conditions"].as_array().unwrap();
    let types: Vec<_> = conditions
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["RuntimeReady", "NetworkReady"], "{info}");
    assert_eq!(conditions[0]["status"], true, "{info}");
    let handlers: Vec<_> = info["runtimeHandlers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(handlers, ["", "nspawn", "kvm", "fly"], "{info}");

    let before = used_bytes(&cri);
    // As kubelet names images: HOST/REPO:TAG, no transport prefix.
    let one = format!("{}/cri/pod:1", img.registry.host());
    let two = format!("{}/cri/pod:2", img.registry.host());
    let out = cri.ok(&["pull", &one]);
    assert!(
        out.contains(&img.id),
        "the pull answers the config digest: {out}"
    );
    cri.ok(&["pull", &two]);
    cri.ok(&["pull", &format!("{}/cri/other:1", img.registry.host())]);
    let after = used_bytes(&cri);
    assert!(after > before, "image fs usage {before} -> {after}");

    let list = cri.json(&["images", "-o", "json"]);
    let all = list["images"].as_array().unwrap();
    assert_eq!(all.len(), 2, "{list}");
    let pod = all.iter().find(|i| i["id"] == img.id.as_str()).unwrap();
    let tags: Vec<_> = pod["repoTags"].as_array().unwrap().iter().collect();
    assert_eq!(
        tags,
        [&Value::from(one.clone()), &Value::from(two.clone())],
        "{pod}"
    );
    let digest = format!("{}/cri/pod@{}", img.registry.host(), img.manifest);
    assert_eq!(pod["repoDigests"], serde_json::json!([digest]), "{pod}");

    // Status by tag, id, short id and digest; a missing image is no image.
    let short = &img.id["sha256:".len().."sha256:".len() + 12];
    for name in [one.as_str(), &img.id, short, &digest] {
        let s = cri.json(&["inspecti", "-o", "json", name]);
        assert_eq!(s["status"]["id"], img.id.as_str(), "{name}: {s}");
    }
    let missing = cri.crictl(&["inspecti", &format!("{}/cri/none:1", img.registry.host())]);
    assert!(
        missing.stderr.contains("no such image") || missing.stdout.contains("no such image"),
        "{missing}"
    );

    // Removing one tag removes them all, and the content.
    cri.ok(&["rmi", &two]);
    let list = cri.json(&["images", "-o", "json"]);
    let ids: Vec<_> = list["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, std::slice::from_ref(&img.other_id), "{list}");
    let removed = used_bytes(&cri);
    assert!(
        removed < after,
        "image fs usage {after} -> {removed} after rmi"
    );
    // crictl asks ImageStatus first; rukt answers "no image", it says so.
    let again = cri.crictl(&["rmi", &two]);
    assert!(!again.success(), "{again}");

    // A pull from a registry that never answers ends at the client's deadline, as
    // DeadlineExceeded, and stores nothing.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_host = silent.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in silent.incoming() {
            held.push(c);
        }
    });
    let start = Instant::now();
    let late = cri.crictl(&[
        "pull",
        "--pull-timeout",
        "3s",
        &format!("{silent_host}/cri/late:1"),
    ]);
    assert!(!late.success(), "{late}");
    assert!(late.stderr.contains("DeadlineExceeded"), "{late}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    let list = cri.json(&["images", "-o", "json"]);
    assert_eq!(list["images"].as_array().unwrap().len(), 1, "{list}");
}

const VENV_PYTHON: &str = "/opt/rukt-test/venv/bin/python";

/// The CRI client for what crictl cannot send: its stubs once per run.
fn py_stubs() -> &'static Path {
    static STUBS: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    STUBS
        .get_or_init(|| {
            let dir = tempfile::Builder::new()
                .prefix("rukt-cri-stubs-")
                .tempdir()
                .unwrap();
            let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
            let out = Command::new(VENV_PYTHON)
                .arg(repo.join("tests/py/cri_client.py"))
                .arg("--stubs")
                .arg(dir.path())
                .arg("gen")
                .arg(repo.join("proto/k8s/cri-api"))
                .output()
                .unwrap();
            assert!(out.status.success(), "stub generation: {out:?}");
            dir
        })
        .path()
}

/// One RPC through the Python client: its reply, or `{"error": CODE}`.
fn call(cri: &Cri, service: &str, rpc: &str, body: Value) -> Value {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(VENV_PYTHON)
        .arg(repo.join("tests/py/cri_client.py"))
        .arg("--stubs")
        .arg(py_stubs())
        .arg("--target")
        .arg(format!("unix:{}", cri.sock.display()))
        .args(["call", service, rpc, &body.to_string()])
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{rpc}: {e}: {out:?}"))
}

/// A sandbox config for crictl.
fn pod_config(dir: &Path, name: &str) -> PathBuf {
    let logs = dir.join(format!("logs-{name}"));
    let config = serde_json::json!({
        "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"), "attempt": 1},
        "hostname": name,
        "dns_config": {"servers": ["10.0.0.10"], "searches": ["svc.test"]},
        "log_directory": logs,
        "labels": {"app": name, "odd": "a=b,c"},
        "annotations": {"rukt.test/json": "{\"kept\": \"verbatim\"}"},
        "linux": {}
    });
    let p = dir.join(format!("{name}-pod.json"));
    std::fs::write(&p, config.to_string()).unwrap();
    p
}

fn container_config(dir: &Path, image: &str, name: &str, script: &str, mounts: Value) -> PathBuf {
    let config = serde_json::json!({
        "mounts": mounts,
        "metadata": {"name": name, "attempt": 0},
        "image": {"image": image},
        "command": ["/bin/sh", "-c", script],
        "envs": [{"key": "GREETING", "value": "hello"}],
        "log_path": format!("{name}/0.log"),
        "labels": {"c": name},
        "linux": {}
    });
    let p = dir.join(format!("{name}-container.json"));
    std::fs::write(&p, config.to_string()).unwrap();
    p
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_busybox_sandbox_through_its_life_and_a_killed_server() {
    let pods = PodStore::with_stage1("nspawn", Vec::new());
    let img = images();
    let mut cri = Cri::start(&pods);
    let work = tempfile::tempdir().unwrap();
    let image = format!("{}/cri/pod:1", img.registry.host());
    cri.ok(&["pull", &image]);

    // An engine without mutable pods is refused up front, naming what it lacks.
    let fly = cri.crictl(&[
        "runp",
        "--runtime",
        "fly",
        pod_config(work.path(), "fly").to_str().unwrap(),
    ]);
    assert!(
        fly.stderr.contains("InvalidArgument") && fly.stderr.contains("fly"),
        "{fly}"
    );
    let unknown = cri.crictl(&[
        "runp",
        "--runtime",
        "runc",
        pod_config(work.path(), "x").to_str().unwrap(),
    ]);
    assert!(
        unknown.stderr.contains("unknown runtime handler") && unknown.stderr.contains("runc"),
        "{unknown}"
    );
    assert!(cri.ok(&["pods", "-q"]).trim().is_empty());

    let sandbox = cri.ok(&["runp", pod_config(work.path(), "web").to_str().unwrap()]);
    let sandbox = sandbox.trim().to_string();
    let p = cri.json(&["inspectp", "-o", "json", &sandbox]);
    assert_eq!(p["status"]["state"], "SANDBOX_READY", "{p}");
    assert_eq!(p["status"]["metadata"]["name"], "web", "{p}");
    assert_eq!(p["status"]["labels"]["odd"], "a=b,c", "{p}");
    assert_eq!(
        p["status"]["annotations"]["rukt.test/json"], "{\"kept\": \"verbatim\"}",
        "{p}"
    );
    assert!(
        !p["status"]["createdAt"]
            .as_str()
            .unwrap()
            .starts_with("1970"),
        "{p}"
    );

    // A host directory mounted read-only, as kubelet mounts volumes and /etc/hosts.
    let host = work.path().join("host-data");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("file"), "from the host\n").unwrap();
    let mounts = serde_json::json!([
        {"container_path": "/data", "host_path": host, "readonly": true}
    ]);
    let ctr = cri.ok(&[
        "create",
        &sandbox,
        container_config(
            work.path(),
            &image,
            "talker",
            "echo $GREETING; echo oops >&2; while :; do echo tick; sleep 0.2; done",
            mounts,
        )
        .to_str()
        .unwrap(),
        pod_config(work.path(), "web").to_str().unwrap(),
    ]);
    let ctr = ctr.trim().to_string();
    let c = cri.json(&["inspect", "-o", "json", &ctr]);
    assert_eq!(c["status"]["state"], "CONTAINER_CREATED", "{c}");
    cri.ok(&["start", &ctr]);
    let c = cri.json(&["inspect", "-o", "json", &ctr]);
    assert_eq!(c["status"]["state"], "CONTAINER_RUNNING", "{c}");
    assert_eq!(c["status"]["imageRef"], img.id.as_str(), "{c}");
    let log = PathBuf::from(c["status"]["logPath"].as_str().unwrap());
    assert_eq!(log, work.path().join("logs-web/talker/0.log"));
    let ps = cri.ok(&["ps", "-q"]);
    assert_eq!(ps.trim(), ctr);

    // The container's output, in the CRI log format.
    wait_for("the log lines", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("stderr F oops"))
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(" stdout F hello\n"), "{text}");

    // Kubelet's rotation: rename, then ReopenContainerLog; a new file at once, the old one
    // no longer written.
    let rotated = log.with_extension("log.1");
    std::fs::rename(&log, &rotated).unwrap();
    let r = call(
        &cri,
        "RuntimeService",
        "ReopenContainerLog",
        serde_json::json!({"container_id": ctr}),
    );
    assert!(r.get("error").is_none(), "{r}");
    assert!(
        log.exists(),
        "no new log file when ReopenContainerLog answered"
    );
    wait_for("a tick in the new log", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("stdout F tick"))
    });
    let old_len = std::fs::metadata(&rotated).unwrap().len();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        std::fs::metadata(&rotated).unwrap().len(),
        old_len,
        "the old log still grows"
    );

    // ExecSync: output, a failing command's code, and a timeout.
    let out = cri.ok(&["exec", "--sync", &ctr, "sh", "-c", "echo in-$GREETING"]);
    assert_eq!(out.trim(), "in-hello");
    let resolv = cri.ok(&["exec", "--sync", &ctr, "cat", "/etc/resolv.conf"]);
    assert!(
        resolv.contains("nameserver 10.0.0.10") && resolv.contains("svc.test"),
        "{resolv}"
    );
    let out = cri.ok(&["exec", "--sync", &ctr, "cat", "/data/file"]);
    assert_eq!(out.trim(), "from the host");
    let ro = cri.crictl(&["exec", "--sync", &ctr, "touch", "/data/new"]);
    assert!(!ro.success(), "a read-only mount was written: {ro}");
    assert!(!host.join("new").exists());
    let c = cri.json(&["inspect", "-o", "json", &ctr]);
    assert_eq!(c["status"]["mounts"][0]["containerPath"], "/data", "{c}");
    assert_eq!(c["status"]["mounts"][0]["readonly"], true, "{c}");
    // A failing command is an answer with its code (crictl reports it and exits 1).
    let failed = cri.crictl(&["exec", "--sync", &ctr, "sh", "-c", "echo partial; exit 3"]);
    assert!(failed.stderr.contains("exited with 3"), "{failed}");
    let start = Instant::now();
    let slow = cri.crictl(&["exec", "--sync", "--timeout", "1", &ctr, "sleep", "45.5"]);
    assert!(!slow.success(), "{slow}");
    assert!(
        slow.stderr.to_lowercase().contains("deadline") || slow.stderr.contains("timed out"),
        "{slow}"
    );
    assert!(start.elapsed() < Duration::from_secs(20));
    // ... and the command was killed, not left running in the pod.
    wait_for("the timed-out command to be killed", || {
        let out = Command::new("pgrep")
            .args(["-f", "sleep 45.5"])
            .output()
            .unwrap();
        out.stdout.is_empty()
    });

    // New limits on the running container, applied to its cgroup.
    cri.ok(&["update", "--memory", "67108864", &ctr]);
    let limit = cri.ok(&["exec", "--sync", &ctr, "sh", "-c",
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"]);
    assert_eq!(limit.trim(), "67108864");

    // The sandbox's stats: its pod cgroup, with its container's.
    let sp = cri.json(&["statsp", "-o", "json", &sandbox]);
    let cpu = &sp["stats"][0]["linux"]["cpu"]["usageCoreNanoSeconds"]["value"];
    assert!(cpu.as_str().unwrap().parse::<u64>().unwrap() > 0, "{sp}");
    assert_eq!(
        sp["stats"][0]["linux"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{sp}"
    );

    // Stats: cumulative CPU and a working set, stamped.
    let stats = cri.json(&["stats", "-o", "json", &ctr]);
    let s = &stats["stats"][0];
    assert!(
        s["cpu"]["timestamp"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0,
        "{stats}"
    );
    assert!(
        s["memory"]["workingSetBytes"]["value"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0,
        "{stats}"
    );

    // A crash of the server loses nothing: the same pods, containers and images.
    let images_before = cri.json(&["images", "-o", "json"]);
    let pods_before = cri.ok(&["pods", "-q"]);
    cri.kill();
    cri.restart();
    assert_eq!(cri.json(&["images", "-o", "json"]), images_before);
    assert_eq!(cri.ok(&["pods", "-q"]), pods_before);
    let c = cri.json(&["inspect", "-o", "json", &ctr]);
    assert_eq!(
        c["status"]["state"], "CONTAINER_RUNNING",
        "after the restart: {c}"
    );

    // Stop (twice: idempotent), remove; then the sandbox.
    cri.ok(&["stop", "--timeout", "1", &ctr]);
    cri.ok(&["stop", &ctr]);
    let c = cri.json(&["inspect", "-o", "json", &ctr]);
    assert_eq!(c["status"]["state"], "CONTAINER_EXITED", "{c}");
    assert!(
        !c["status"]["finishedAt"]
            .as_str()
            .unwrap()
            .starts_with("1970"),
        "{c}"
    );
    cri.ok(&["rm", &ctr]);
    assert!(cri.ok(&["ps", "-a", "-q"]).trim().is_empty());
    cri.ok(&["stopp", &sandbox]);
    cri.ok(&["stopp", &sandbox]);
    let p = cri.json(&["inspectp", "-o", "json", &sandbox]);
    assert_eq!(p["status"]["state"], "SANDBOX_NOTREADY", "{p}");
    cri.ok(&["rmp", &sandbox]);
    assert!(cri.ok(&["pods", "-q"]).trim().is_empty());
    // Gone: stopping again is OK, asking its status NotFound.
    cri.ok(&["stopp", &sandbox]);
    cri.ok(&["stop", &ctr]);
    let gone = cri.crictl(&["inspectp", &sandbox]);
    assert!(gone.stderr.contains("NotFound"), "{gone}");
    let gone = cri.crictl(&["inspect", &ctr]);
    assert!(gone.stderr.contains("NotFound"), "{gone}");
    // What crictl checks for itself first: removing unknown ids is OK.
    let r = call(
        &cri,
        "RuntimeService",
        "RemovePodSandbox",
        serde_json::json!({"pod_sandbox_id": sandbox}),
    );
    assert!(r.get("error").is_none(), "{r}");
    let r = call(
        &cri,
        "RuntimeService",
        "RemoveContainer",
        serde_json::json!({"container_id": ctr}),
    );
    assert!(r.get("error").is_none(), "{r}");
    let r = call(
        &cri,
        "ImageService",
        "RemoveImage",
        serde_json::json!({"image": {"image": "none/such:1"}}),
    );
    assert!(r.get("error").is_none(), "{r}");
    let r = call(
        &cri,
        "ImageService",
        "ImageStatus",
        serde_json::json!({"image": {"image": "none/such:1"}}),
    );
    assert!(r.get("image").is_none() && r.get("error").is_none(), "{r}");
    assert!(pods.pod_dirs().is_empty(), "{:?}", pods.pod_dirs());
}

/// kubelet's cgroupfs driver names each pod's cgroup in `linux.cgroup_parent` and sets its
/// limits there; a container's `stop_signal` is what StopContainer sends first.
#[test]
fn a_sandbox_below_kubelets_pod_cgroup_and_a_containers_stop_signal() {
    let pods = PodStore::with_stage1("nspawn", Vec::new());
    let img = images();
    let cri = Cri::start(&pods);
    let work = tempfile::tempdir().unwrap();
    let image = format!("{}/cri/pod:1", img.registry.host());
    cri.ok(&["pull", &image]);
    let parent = format!("/rukt-test-cri-{}/pod-uid1", std::process::id());
    let cgroup_dir = |rel: &str| {
        let root = Path::new("/sys/fs/cgroup");
        let unified = !root.join("memory").exists();
        let base = if unified {
            root.to_path_buf()
        } else {
            root.join("memory")
        };
        base.join(rel.trim_start_matches('/'))
    };

    let pod = pod_config(work.path(), "limited");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&pod).unwrap()).unwrap();
    config["linux"] = serde_json::json!({"cgroup_parent": parent});
    std::fs::write(&pod, config.to_string()).unwrap();
    let sandbox = cri.ok(&["runp", pod.to_str().unwrap()]).trim().to_string();

    let script = "trap '' TERM; trap 'echo got QUIT; exit 0' QUIT; echo up; \
                  while :; do sleep 0.1; done";
    let ctr_config = container_config(work.path(), &image, "quitter", script, Value::Null);
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(&ctr_config).unwrap()).unwrap();
    config["stop_signal"] = serde_json::json!(18); // SIGQUIT in CRI's Signal enum
    std::fs::write(&ctr_config, config.to_string()).unwrap();
    let ctr = cri.ok(&[
        "create",
        &sandbox,
        ctr_config.to_str().unwrap(),
        pod.to_str().unwrap(),
    ]);
    let ctr = ctr.trim().to_string();
    cri.ok(&["start", &ctr]);
    let status = cri.json(&["inspect", "-o", "json", &ctr]);
    assert_eq!(status["status"]["stopSignal"], "SIGQUIT", "{status}");
    // crictl shows the verbose info's JSON as an object.
    let info = &status["info"];
    assert!(info["pod"].is_string(), "{status}");
    let (uuid, app) = (info["pod"].as_str().unwrap(), info["app"].as_str().unwrap());
    let procs = cgroup_dir(&format!("{parent}/rukt/{uuid}/{app}")).join("cgroup.procs");
    wait_for("the container's process in kubelet's pod cgroup", || {
        std::fs::read_to_string(&procs).is_ok_and(|p| !p.trim().is_empty())
    });

    let start = Instant::now();
    cri.ok(&["stop", "--timeout", "30", &ctr]);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "SIGQUIT ended it, not the SIGKILL after the timeout"
    );
    let logs = cri.crictl(&["logs", &ctr]);
    assert!(logs.stdout.contains("got QUIT"), "{logs}");
    let status = cri.json(&["inspect", "-o", "json", &ctr]);
    assert_eq!(status["status"]["exitCode"], 0, "{status}");

    cri.ok(&["stopp", &sandbox]);
    cri.ok(&["rmp", &sandbox]);
    let parent_dir = cgroup_dir(&parent);
    assert!(
        !parent_dir.join("rukt").exists(),
        "the sandbox's cgroups are gone with it"
    );
    // The parent is kubelet's: it removes it.
    let _ = std::fs::remove_dir(&parent_dir);
    for d in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let _ = std::fs::remove_dir(d.path().join(parent.trim_start_matches('/')));
        let _ = std::fs::remove_dir(
            d.path()
                .join(format!("rukt-test-cri-{}", std::process::id())),
        );
    }
}

/// Pulls the test image and runs a sandbox on `handler`; the sandbox and the crictl words
/// creating in it a container `term` with `tty` and `stdin` that runs `script`.
fn tty_container(
    cri: &Cri,
    img: &Images,
    work: &Path,
    handler: &str,
    script: &str,
) -> (String, Vec<String>) {
    let image = format!("{}/cri/pod:1", img.registry.host());
    cri.ok(&["pull", &image]);
    let pod = pod_config(work, "term");
    let pod = pod.to_str().unwrap();
    let sandbox = cri.ok(&["runp", "--runtime", handler, pod]);
    let sandbox = sandbox.trim().to_string();
    let config = container_config(work, &image, "term", script, Value::Array(vec![]));
    let mut v: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    v["tty"] = Value::Bool(true);
    v["stdin"] = Value::Bool(true);
    std::fs::write(&config, v.to_string()).unwrap();
    let create = ["create", &sandbox, config.to_str().unwrap(), pod].map(String::from);
    (sandbox, create.to_vec())
}

/// A container with `tty` (nspawn): it sees a terminal, `crictl attach -i -t` from a terminal
/// (a pty of the test's) types at it and passes the window's size on (the resize stream), its
/// CRI log has only stdout, `crictl logs` shows it, and its verbose status says tty.
#[test]
fn a_tty_container_through_crictl_attach_and_logs() {
    let pods = PodStore::with_stage1("nspawn", Vec::new());
    let (cri, img) = (Cri::start(&pods), images());
    let work = tempfile::tempdir().unwrap();
    let script = "tty; [ -t 0 ] && [ -t 1 ] && echo is-a-tty; echo to-stderr >&2; \
                  read x; echo \"size $(stty size) got $x\"";
    let (sandbox, create) = tty_container(&cri, &img, work.path(), "nspawn", script);
    let create: Vec<&str> = create.iter().map(String::as_str).collect();
    let ctr = cri.ok(&create).trim().to_string();
    cri.ok(&["start", &ctr]);
    let c = cri.json(&["inspect", "-o", "json", &ctr]);
    assert_eq!(c["info"]["tty"], true, "{c}");

    let mut attach = PtySession::spawn(cri.command(&["attach", "-i", "-t", &ctr]), 30, 90);
    std::thread::sleep(Duration::from_secs(1));
    attach.write("hello\r");
    attach.expect("size 30 90 got hello", Duration::from_secs(30));
    let (ok, shown) = attach.wait(Duration::from_secs(30));
    assert!(ok, "crictl attach failed:\n{shown}");
    wait_for("the container's exit", || {
        cri.json(&["inspect", "-o", "json", &ctr])["status"]["state"] == "CONTAINER_EXITED"
    });
    let c = cri.json(&["inspect", "-o", "json", &ctr]);
    assert_eq!(c["status"]["exitCode"], 0, "{c}");

    let log = std::fs::read_to_string(c["status"]["logPath"].as_str().unwrap()).unwrap();
    assert!(
        log.lines().all(|l| l.split(' ').nth(1) == Some("stdout")),
        "{log}"
    );
    let logs = cri.ok(&["logs", &ctr]);
    for want in ["/dev/pts/", "is-a-tty", "to-stderr", "size 30 90 got hello"] {
        assert!(logs.contains(want), "{want:?} not in crictl logs:\n{logs}");
    }
    cri.ok(&["rm", &ctr]);
    cri.ok(&["stopp", &sandbox]);
    cri.ok(&["rmp", &sandbox]);
}

/// The kvm handler has no terminal per app (feature `app-tty`): CreateContainer with tty is
/// INVALID_ARGUMENT naming it, and nothing is added to the sandbox.
#[test]
fn a_tty_container_is_refused_by_the_kvm_handler() {
    let _vm = crate::pods::kvm::one_vm_at_a_time();
    let pods = PodStore::with_stage1("kvm", Vec::new());
    let (cri, img) = (Cri::start(&pods), images());
    let work = tempfile::tempdir().unwrap();
    let (sandbox, create) = tty_container(&cri, &img, work.path(), "kvm", "tty");
    let create: Vec<&str> = create.iter().map(String::as_str).collect();
    let refused = cri.crictl(&create);
    assert!(
        refused.stderr.contains("InvalidArgument") && refused.stderr.contains("--tty"),
        "{refused}"
    );
    assert!(cri.ok(&["ps", "-a", "-q"]).trim().is_empty());
    cri.ok(&["stopp", &sandbox]);
    cri.ok(&["rmp", &sandbox]);
}

/// A call whose deadline passes is answered DEADLINE_EXCEEDED by the server
/// itself, as gRPC says (critest's "public image should timeout" checks the
/// code). curl sends the `grpc-timeout` without keeping a timer of its own,
/// so what it prints is the server's answer, not a client's guess: a pull
/// from a registry that accepts and never answers, with 500 ms to run.
#[test]
fn a_call_past_its_deadline_is_answered_deadline_exceeded() {
    let pods = PodStore::with_stage1("nspawn", Vec::new());
    let cri = Cri::start(&pods);
    // Never accepted: the kernel completes the handshakes and the request
    // waits in the backlog for an answer that does not come.
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = hang.local_addr().unwrap().to_string();
    let image = format!("{host}/hangs/forever:1");
    // PullImageRequest { image: ImageSpec { image } }, in one gRPC frame.
    let spec = [&[0x0a, image.len() as u8][..], image.as_bytes()].concat();
    let req = [&[0x0a, spec.len() as u8][..], &spec].concat();
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(req.len() as u32).to_be_bytes());
    frame.extend_from_slice(&req);
    let before = cri.json(&["images", "-o", "json"]);
    let body = cri.sock.with_file_name("pull.bin");
    std::fs::write(&body, &frame).unwrap();

    // The body follows the headers 200 ms later, as from a slow client:
    // the deadline runs from the headers, before any handler has the call.
    let start = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(
            r#"(sleep 0.2; cat "$1") | curl -sS --http2-prior-knowledge --max-time 20 \
            --unix-socket "$2" -H 'content-type: application/grpc' -H 'te: trailers' \
            -H 'grpc-timeout: 500m' -D - -o /dev/null -X POST -T - \
            http://localhost/runtime.v1.ImageService/PullImage"#,
        )
        .arg("sh")
        .arg(&body)
        .arg(&cri.sock)
        .output()
        .unwrap();
    let took = start.elapsed();
    let headers = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(out.status.success(), "curl: {out:?}");
    assert!(headers.contains("grpc-status: 4\r\n"), "{headers}");
    assert!(took < Duration::from_secs(10), "answered after {took:?}");
    // Nothing of the pull was kept.
    assert_eq!(cri.json(&["images", "-o", "json"]), before);
    drop(hang);
}
