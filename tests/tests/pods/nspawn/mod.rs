//! Pods under the default stage1, `nspawn` (namespaces, cgroups, seccomp on libcontainer),
//! as root: the static inspector (`tests/inspector`) reports from inside a pod and the tests
//! compare that with the host's own report, with other apps of the pod and with other pods;
//! limits are checked from the host's cgroup tree too; hostile images must not reach the host.
//!
//! Needs `rukt`, `rukt-stage1-nspawn` and `rukt-stage1-fly` built next to each other; the
//! inspector is built on first use (see `rukt_tests::inspector`).

mod etc;
mod hostile;
mod isolation;
mod lifecycle;
mod limits;
mod pod;
mod terminal;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rukt_tests::inspector::{self, parse_report, strings};
use rukt_tests::pods::{HostDir, PodStore, RunningPod, WAIT};
use rukt_tests::rukt::Output;
use serde_json::Value;

/// Podman's default capability set, which nspawn gives root apps.
pub const DEFAULT_CAPS: [&str; 11] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// A store for nspawn pods whose image carries the inspector.
pub fn store() -> PodStore {
    inspector::store("nspawn")
}

/// `rukt run POD_FLAGS IMAGE --name NAME APP_FLAGS --exec rukt-inspector -- report`: asserts
/// success and returns the parsed report.
pub fn report(pods: &PodStore, pod_flags: &[&str], name: &str, app_flags: &[&str]) -> Value {
    let out = run_report(pods, pod_flags, name, app_flags);
    assert!(out.success(), "the inspector's pod failed:\n{out}");
    parse_report(&out.stdout)
}

/// As `report`, but returns the output as it is.
pub fn run_report(pods: &PodStore, pod_flags: &[&str], name: &str, app_flags: &[&str]) -> Output {
    let mut app = vec!["--name", name];
    app.extend_from_slice(app_flags);
    app.extend_from_slice(&["--exec", inspector::PATH, "--", "report"]);
    pods.run(&pods.pod_args("run", pod_flags, &app))
}

/// Words for one app that writes its report to `/out/NAME.json` (a host directory mounted
/// with `OutDir::volume`), then runs `then` (shell).
pub fn report_app(name: &str, extra: &[&str], then: &str) -> Vec<String> {
    let mut app: Vec<String> = ["--name", name, "--mount", "volume=out,target=/out"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    app.extend(extra.iter().map(|s| (*s).to_owned()));
    app.extend([
        "--exec".to_owned(),
        "/bin/sh".to_owned(),
        "--".to_owned(),
        "-c".to_owned(),
        format!("{} report > /out/{name}.json; {then}", inspector::PATH),
    ]);
    app
}

/// A host directory apps write their reports into (volume `out`).
pub struct OutDir(pub HostDir);

impl OutDir {
    /// Mode 0777: apps running as other users write there too.
    pub fn new() -> OutDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = HostDir::new();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod the report directory");
        OutDir(dir)
    }

    /// `--volume out,kind=host,source=DIR`.
    pub fn volume(&self) -> String {
        self.0.volume_flag("out", false)
    }

    /// The report app `name` wrote.
    pub fn report(&self, name: &str) -> Value {
        let path = self.0.path().join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("app {name} wrote no report ({}): {e}", path.display()));
        parse_report(&text)
    }
}

/// The sorted names in capability set `set` (`effective`, ...) of a report.
pub fn caps(report: &Value, set: &str) -> Vec<String> {
    let mut names = strings(&report["capabilities"][set]);
    names.sort();
    names
}

/// `DEFAULT_CAPS`, sorted, with `remove` taken out.
pub fn default_caps_without(remove: &[&str]) -> Vec<String> {
    let mut names: Vec<String> = DEFAULT_CAPS
        .iter()
        .filter(|c| !remove.contains(c))
        .map(|c| (*c).to_owned())
        .collect();
    names.sort();
    names
}

/// The namespace inode `ns` of a report.
pub fn ns(report: &Value, ns: &str) -> u64 {
    report["namespaces"][ns]
        .as_u64()
        .unwrap_or_else(|| panic!("no {ns} namespace in the report: {}", report["namespaces"]))
}

/// The only pod in the store (for pods run to completion).
pub fn only_pod(pods: &PodStore) -> String {
    let list = pods.list();
    assert_eq!(list.len(), 1, "expected one pod: {list:#?}");
    list[0]["uuid"].as_str().expect("uuid").to_owned()
}

/// `key` of a `status` map, `<missing>` when absent.
pub fn get<'a>(st: &'a BTreeMap<String, String>, key: &str) -> &'a str {
    st.get(key).map_or("<missing>", String::as_str)
}

/// Whether `/sys/fs/cgroup` is the unified (v2) hierarchy.
pub fn cgroup_v2() -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let mut f = l.split_whitespace().skip(1);
            f.next() == Some("/sys/fs/cgroup") && f.next() == Some("cgroup2")
        })
}

/// The host path of a limit file of cgroup `rel` (`rukt/<uuid>/<app>`): v1
/// `/sys/fs/cgroup/<controller>/<rel>/<v1_file>` or v2 `/sys/fs/cgroup/<rel>/<v2_file>`.
pub fn cgroup_file(controller: &str, rel: &str, v1_file: &str, v2_file: &str) -> PathBuf {
    let root = Path::new("/sys/fs/cgroup");
    if cgroup_v2() {
        root.join(rel).join(v2_file)
    } else {
        root.join(controller).join(rel).join(v1_file)
    }
}

/// The processes below `pid` (children, grandchildren, ...) with their command lines.
pub fn descendants(pid: u32) -> Vec<(u32, String)> {
    let mut parents = BTreeMap::<u32, Vec<u32>>::new();
    let mut cmdlines = BTreeMap::new();
    for e in std::fs::read_dir("/proc").expect("reading /proc").flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        parents.entry(ppid).or_default().push(p);
        let raw = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&raw)
            .split('\0')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        cmdlines.insert(p, cmdline);
    }
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for &child in parents.get(&p).map(Vec::as_slice).unwrap_or_default() {
            out.push((child, cmdlines.get(&child).cloned().unwrap_or_default()));
            todo.push(child);
        }
    }
    out
}

/// The one process below `pid` whose command line is `cmdline`, waiting for it to appear
/// (an app that printed `ready` may not have exec'd yet).
pub fn descendant(pid: u32, cmdline: &str) -> u32 {
    let deadline = Instant::now() + WAIT;
    loop {
        let all = descendants(pid);
        let hits: Vec<u32> = all
            .iter()
            .filter(|(_, c)| c == cmdline)
            .map(|(p, _)| *p)
            .collect();
        match hits[..] {
            [one] => return one,
            [] if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => panic!("expected one process {cmdline:?} below {pid}: {all:?}"),
        }
    }
}

/// The `rukt-stage1-nspawn` binary the tests run (next to `rukt`).
pub fn stage1_binary() -> PathBuf {
    rukt_tests::rukt::binary().with_file_name("rukt-stage1-nspawn")
}

/// Waits until the pod has printed every line of `want`, in any order.
pub fn wait_lines(pod: &mut RunningPod, want: &[&str]) {
    let mut seen = Vec::new();
    while let Some(missing) = want.iter().find(|w| !seen.iter().any(|l: &String| l == *w)) {
        seen = pod.wait_line_where(|l| l == *missing || want.contains(&l));
    }
}

/// Waits until the pod has printed `line` `times` times (one per app, say).
pub fn wait_line_times(pod: &mut RunningPod, line: &str, times: usize) {
    let mut seen = 0;
    while seen < times {
        seen = pod
            .wait_line(line)
            .iter()
            .filter(|l| l.trim() == line)
            .count();
    }
}
