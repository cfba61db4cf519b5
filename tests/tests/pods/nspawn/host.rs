//! The host's side of a pod: its cgroup tree (v1 or v2), the processes below the pod's
//! supervisor, and the stage1 binary on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rukt_tests::pods::WAIT;

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
