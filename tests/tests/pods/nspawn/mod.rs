//! Pods under the default stage1, `nspawn` (namespaces, cgroups, seccomp on libcontainer),
//! as root: the static inspector (`tests/inspector`) reports from inside a pod and the tests
//! compare that with the host's own report, with other apps of the pod and with other pods;
//! limits are checked from the host's cgroup tree too; hostile images must not reach the host.
//!
//! Needs `rukt`, `rukt-stage1-nspawn` and `rukt-stage1-fly` built next to each other; the
//! inspector is built on first use (see `rukt_tests::inspector`).

mod app;
mod etc;
mod exe;
mod host;
mod hostile;
mod isolation;
mod lifecycle;
mod limits;
mod logs;
mod mutable;
mod parent;
mod pod;
mod security;
mod terminal;
mod tty;
mod unit;
mod volumes;

use std::collections::BTreeMap;

use rukt_tests::inspector::{self, strings};
use rukt_tests::pods::{PodStore, RunningPod};
use serde_json::Value;

/// Podman's default capability set, which nspawn gives root apps: written out rather than
/// taken from `rukt-contract`, so the tests check the promise and not the code.
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

/// Where the nspawn supervisor keeps pod `uuid`'s ephemeral state.
pub fn run_dir(uuid: &str) -> std::path::PathBuf {
    std::path::Path::new("/run/rukt/pods").join(uuid)
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

/// The descriptor numbers open in a report.
pub fn fd_numbers(report: &Value) -> Vec<u64> {
    report["fds"]
        .as_array()
        .unwrap_or_else(|| panic!("no descriptors in the report: {report}"))
        .iter()
        .filter_map(|f| f["fd"].as_u64())
        .collect()
}
