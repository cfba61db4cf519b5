//! A pod under a systemd unit nests its cgroups inside the unit's: a test-made cgroup named
//! like a unit (`rukt-test-N.service`, in every v1 hierarchy) and `INVOCATION_ID` stand in
//! for what systemd gives `ExecStart=rukt run` with `Delegate=yes`. Without `INVOCATION_ID`
//! (a shell) the same process's pod goes to `/rukt/<uuid>` as always.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use rukt_tests::pods::{PodStore, WAIT, wait_timeout};

use super::host::descendant;
use super::store;

/// A cgroup named like a unit in every v1 hierarchy; removed when dropped.
struct FakeUnit {
    name: String,
    dirs: Vec<PathBuf>,
}

impl FakeUnit {
    fn new(tag: &str) -> FakeUnit {
        let name = format!("rukt-test-{}-{tag}.service", std::process::id());
        let mut dirs = Vec::new();
        for e in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let p = e.path();
            let v1 = p.join("cgroup.clone_children").exists()
                && !dirs.iter().any(|d: &PathBuf| {
                    std::fs::canonicalize(d.parent().unwrap()).ok()
                        == std::fs::canonicalize(&p).ok()
                });
            if v1 && !p.is_symlink() {
                let d = p.join(&name);
                std::fs::create_dir_all(&d).unwrap();
                dirs.push(d);
            }
        }
        assert!(
            dirs.iter().any(|d| d.starts_with("/sys/fs/cgroup/systemd")),
            "this test needs cgroup v1 with a name=systemd hierarchy: {dirs:?}"
        );
        FakeUnit { name, dirs }
    }

    /// `sh -c` words that move the shell into the unit, then exec the rest.
    fn enter_script(&self) -> String {
        let moves: Vec<String> = self
            .dirs
            .iter()
            .map(|d| format!("echo $$ > {}/cgroup.procs", d.display()))
            .collect();
        format!("{}; exec \"$0\" \"$@\"", moves.join("; "))
    }
}

impl Drop for FakeUnit {
    fn drop(&mut self) {
        for d in &self.dirs {
            let _ = std::fs::remove_dir(d.join("rukt"));
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Runs a pod from inside `unit` (with or without `INVOCATION_ID`); returns the app's
/// `pids` cgroup, the supervisor's, and the pod's UUID.
fn pod_in(pods: &PodStore, unit: &FakeUnit, invocation_id: bool) -> (String, String, String) {
    let bin = rukt_tests::rukt::binary();
    let store = pods.store().to_str().unwrap().to_owned();
    let uuid_dir = tempfile::tempdir().unwrap();
    let uuid_file = uuid_dir.path().join("uuid");
    let uuid_arg = uuid_file.to_str().unwrap();
    let script = "trap 'exit 0' TERM; echo up; sleep 4249 & wait";
    let mut args = vec![bin.to_str().unwrap(), "--dir", &store];
    args.extend(pods.pod_args(
        "run",
        &["--uuid-file-save", uuid_arg],
        &["--name", "app", "--exec", "/bin/sh", "--", "-c", script],
    ));
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(unit.enter_script()).args(&args);
    cmd.env_remove("INVOCATION_ID")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    if invocation_id {
        cmd.env("INVOCATION_ID", "0123456789abcdef0123456789abcdef");
    }
    let mut child = cmd.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "up");
    let cgroup_of = |pid: u32| {
        let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
        text.lines()
            .find_map(|l| l.split_once(":pids:").map(|(_, p)| p.to_owned()))
            .unwrap()
    };
    let app = cgroup_of(descendant(child.id(), "sleep 4249"));
    let supervisor = cgroup_of(child.id());
    let uuid = std::fs::read_to_string(&uuid_file)
        .unwrap()
        .trim()
        .to_owned();
    rukt_tests::pods::send_signal(child.id(), "TERM");
    let status = wait_timeout(&mut child, WAIT).expect("the pod ends");
    assert!(status.success(), "{status}");
    (app, supervisor, uuid)
}

#[test]
fn a_pod_nests_in_its_units_cgroup_and_not_from_a_shell() {
    let pods = store();
    let unit = FakeUnit::new("nest");
    let (app, supervisor, uuid) = pod_in(&pods, &unit, true);
    let base = format!("/{}", unit.name);
    assert_eq!(
        supervisor, base,
        "the supervisor stays in the unit's cgroup (v1)"
    );
    assert_eq!(app, format!("{base}/rukt/{uuid}/app"));
    let recorded = pods.pod_dir(&uuid).unwrap().join("stage1/cgroup-parent");
    assert_eq!(std::fs::read_to_string(recorded).unwrap(), base);
    for d in &unit.dirs {
        assert!(
            !d.join("rukt").join(&uuid).exists(),
            "removed at exit: {}",
            d.display()
        );
    }

    let (app, supervisor, uuid) = pod_in(&pods, &unit, false);
    assert_eq!(supervisor, base);
    assert_eq!(
        app,
        format!("/rukt/{uuid}/app"),
        "from a shell: where pods always go"
    );
}
