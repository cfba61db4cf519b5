//! Container and sandbox stats from the engines' cgroups: the pod's is
//! `<parent>/rukt/<uuid>`, an app's `<parent>/rukt/<uuid>/<app>`
//! (docs/stage1-nspawn.md), with `<parent>` read from the pod process's
//! own `/proc/<pid>/cgroup`. cgroup v1 (`cpuacct.usage`, `memory.stat`'s
//! `total_*`) and v2 (`cpu.stat`, `memory.current`, `memory.stat`) are
//! both read; CPU is cumulative nanoseconds, the working set usage minus
//! inactive file pages, as cAdvisor computes it.

use std::path::{Path, PathBuf};

use rukt_proto::cri::v1 as cri;

/// Where the cgroup hierarchies are mounted.
const ROOT: &str = "/sys/fs/cgroup";

/// One reading of a cgroup.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Cumulative CPU time, ns.
    pub cpu_ns: u64,
    /// Memory in use, bytes (page cache included).
    pub memory_usage: u64,
    /// `memory_usage` − inactive file pages.
    pub working_set: u64,
    /// Anonymous memory (rss), bytes.
    pub rss: u64,
    /// Page faults.
    pub page_faults: u64,
    /// Major page faults.
    pub major_page_faults: u64,
}

/// A `key value` line's value in a stat file.
pub fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Which cgroup layout the host has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One unified hierarchy.
    V2,
    /// One hierarchy per controller.
    V1,
}

impl Layout {
    /// The host's layout (a hybrid host's v1 controllers count as v1).
    pub fn host() -> Layout {
        if Path::new(ROOT).join("cgroup.controllers").is_file() {
            Layout::V2
        } else {
            Layout::V1
        }
    }
}

/// The v1 parent or the v2 path of `controller` for `pid`, from
/// `/proc/<pid>/cgroup`'s text.
pub fn proc_cgroup(text: &str, layout: Layout, controller: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = match layout {
            Layout::V2 => ctrls.is_empty(),
            Layout::V1 => ctrls.split(',').any(|c| c == controller),
        };
        hit.then(|| path.to_string())
    })
}

/// The pod cgroup (relative to a hierarchy's root) from the cgroup the
/// pod's process is in: up to `/rukt/<uuid>` when it is inside, else
/// below it (the supervisor may sit in its parent).
pub fn pod_cgroup(process_cgroup: &str, uuid: &str) -> String {
    let marker = format!("/rukt/{uuid}");
    match process_cgroup.find(&marker) {
        Some(i) => process_cgroup[..i + marker.len()].to_string(),
        None => format!("{}{marker}", process_cgroup.trim_end_matches('/')),
    }
}

/// Reads the cgroup `rel` (e.g. `/rukt/<uuid>/<app>`) on `layout`.
pub fn read(layout: Layout, rel: &str) -> Option<Sample> {
    let rel = rel.trim_start_matches('/');
    let file = |dir: PathBuf, f: &str| std::fs::read_to_string(dir.join(f)).ok();
    match layout {
        Layout::V2 => {
            let dir = Path::new(ROOT).join(rel);
            let cpu = file(dir.clone(), "cpu.stat")?;
            let mstat = file(dir.clone(), "memory.stat").unwrap_or_default();
            let usage = file(dir, "memory.current")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            Some(sample(
                stat_value(&cpu, "usage_usec").unwrap_or(0) * 1000,
                usage,
                &mstat,
                ["inactive_file", "anon", "pgfault", "pgmajfault"],
            ))
        }
        Layout::V1 => {
            let cpu_dir = Path::new(ROOT).join("cpuacct").join(rel);
            let mem_dir = Path::new(ROOT).join("memory").join(rel);
            let cpu = file(cpu_dir, "cpuacct.usage")?.trim().parse().ok()?;
            let mstat = file(mem_dir.clone(), "memory.stat").unwrap_or_default();
            let usage = file(mem_dir, "memory.usage_in_bytes")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            Some(sample(
                cpu,
                usage,
                &mstat,
                [
                    "total_inactive_file",
                    "total_rss",
                    "total_pgfault",
                    "total_pgmajfault",
                ],
            ))
        }
    }
}

fn sample(cpu_ns: u64, usage: u64, mstat: &str, keys: [&str; 4]) -> Sample {
    let v = |k: &str| stat_value(mstat, k).unwrap_or(0);
    Sample {
        cpu_ns,
        memory_usage: usage,
        working_set: usage.saturating_sub(v(keys[0])),
        rss: v(keys[1]),
        page_faults: v(keys[2]),
        major_page_faults: v(keys[3]),
    }
}

/// The pod cgroup of the running pod whose process is `pid`.
pub fn pod_cgroup_of(layout: Layout, pid: u32, uuid: &str) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let controller = proc_cgroup(&text, layout, "cpuacct")?;
    Some(pod_cgroup(&controller, uuid))
}

/// The CRI readings of one cgroup at `now` (ns).
pub fn usage(s: Option<&Sample>, now: i64) -> (cri::CpuUsage, cri::MemoryUsage) {
    let v = |x: u64| Some(cri::UInt64Value { value: x });
    let d = Sample::default();
    let s = s.unwrap_or(&d);
    (
        cri::CpuUsage {
            timestamp: now,
            usage_core_nano_seconds: v(s.cpu_ns),
            ..Default::default()
        },
        cri::MemoryUsage {
            timestamp: now,
            working_set_bytes: v(s.working_set),
            usage_bytes: v(s.memory_usage),
            rss_bytes: v(s.rss),
            page_faults: v(s.page_faults),
            major_page_faults: v(s.major_page_faults),
            ..Default::default()
        },
    )
}

/// The pod cgroup of a running pod, if it has one.
pub fn pod_cgroup_of_pod(pod: &rukt_pods::Pod) -> Option<String> {
    if pod.state() != rukt_pods::State::Running {
        return None;
    }
    let pid: u32 = std::fs::read_to_string(pod.path.join(rukt_contract::PID_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    pod_cgroup_of(Layout::host(), pid, &pod.uuid.to_string())
}

/// Stats of one container.
pub fn container(f: &crate::container::Found, now: i64) -> cri::ContainerStats {
    let sample = pod_cgroup_of_pod(&f.pod)
        .and_then(|pc| read(Layout::host(), &format!("{pc}/{}", f.rec.app)));
    let (cpu, memory) = usage(sample.as_ref(), now);
    let upper = f
        .pod
        .path
        .join(rukt_contract::OVERLAY_DIR)
        .join(&f.rec.app)
        .join("upper");
    let (bytes, inodes) = crate::images::disk_usage(&upper);
    cri::ContainerStats {
        attributes: Some(cri::ContainerAttributes {
            id: f.rec.id.clone(),
            metadata: Some(cri::ContainerMetadata {
                name: f.rec.metadata.name.clone(),
                attempt: f.rec.metadata.attempt,
            }),
            labels: f.rec.labels.clone().into_iter().collect(),
            annotations: f.rec.annotations.clone().into_iter().collect(),
        }),
        cpu: Some(cpu),
        memory: Some(memory),
        writable_layer: Some(cri::FilesystemUsage {
            timestamp: now,
            fs_id: Some(cri::FilesystemIdentifier {
                mountpoint: upper.display().to_string(),
            }),
            used_bytes: Some(cri::UInt64Value { value: bytes }),
            inodes_used: Some(cri::UInt64Value { value: inodes }),
        }),
        ..Default::default()
    }
}

/// Stats of one sandbox (its pod cgroup) with its containers'.
pub fn sandbox(
    pod: &rukt_pods::Pod,
    rec: &crate::record::SandboxRecord,
    containers: Vec<cri::ContainerStats>,
    now: i64,
) -> cri::PodSandboxStats {
    let sample = pod_cgroup_of_pod(pod).and_then(|pc| read(Layout::host(), &pc));
    let (cpu, memory) = usage(sample.as_ref(), now);
    cri::PodSandboxStats {
        attributes: Some(cri::PodSandboxAttributes {
            id: rec.id.clone(),
            metadata: Some(cri::PodSandboxMetadata {
                name: rec.metadata.name.clone(),
                uid: rec.metadata.uid.clone(),
                namespace: rec.metadata.namespace.clone(),
                attempt: rec.metadata.attempt,
            }),
            labels: rec.labels.clone().into_iter().collect(),
            annotations: rec.annotations.clone().into_iter().collect(),
        }),
        linux: Some(cri::LinuxPodSandboxStats {
            cpu: Some(cpu),
            memory: Some(memory),
            containers,
            ..Default::default()
        }),
        windows: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_MEMORY_STAT: &str = "cache 4096\nrss 8192\ntotal_cache 40960\ntotal_rss 81920\n\
                                  total_inactive_file 10000\ntotal_pgfault 77\ntotal_pgmajfault 3\n";

    #[test]
    fn stat_files_parse_and_the_working_set_excludes_inactive_files() {
        assert_eq!(stat_value(V1_MEMORY_STAT, "total_rss"), Some(81920));
        assert_eq!(stat_value(V1_MEMORY_STAT, "rss"), Some(8192));
        assert_eq!(stat_value(V1_MEMORY_STAT, "nope"), None);
        let s = sample(
            5,
            150_000,
            V1_MEMORY_STAT,
            [
                "total_inactive_file",
                "total_rss",
                "total_pgfault",
                "total_pgmajfault",
            ],
        );
        assert_eq!(s.working_set, 140_000);
        assert_eq!((s.rss, s.page_faults, s.major_page_faults), (81920, 77, 3));
        let v2 = "usage_usec 1500\nuser_usec 1000\n";
        assert_eq!(stat_value(v2, "usage_usec"), Some(1500));
    }

    #[test]
    fn the_pod_cgroup_is_found_from_the_process_cgroup() {
        let text =
            "12:pids:/a\n4:cpu,cpuacct:/unit.slice/rukt/u1/app\n1:name=systemd:/x\n0::/v2/path\n";
        assert_eq!(
            proc_cgroup(text, Layout::V1, "cpuacct").as_deref(),
            Some("/unit.slice/rukt/u1/app")
        );
        assert_eq!(
            proc_cgroup(text, Layout::V2, "").as_deref(),
            Some("/v2/path")
        );
        assert_eq!(
            pod_cgroup("/unit.slice/rukt/u1/app", "u1"),
            "/unit.slice/rukt/u1"
        );
        assert_eq!(pod_cgroup("/unit.slice", "u1"), "/unit.slice/rukt/u1");
        assert_eq!(pod_cgroup("/", "u1"), "/rukt/u1");
    }

    #[test]
    fn this_process_cgroup_reads_with_cumulative_cpu() {
        let layout = Layout::host();
        let text = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let rel = proc_cgroup(&text, layout, "cpuacct").unwrap();
        let Some(a) = read(layout, &rel) else {
            return; // a cgroup without cpu accounting (some containers)
        };
        let mut x = 0u64;
        for i in 0..3_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        let b = read(layout, &rel).unwrap();
        assert!(b.cpu_ns >= a.cpu_ns);
    }
}
