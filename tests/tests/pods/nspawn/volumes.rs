//! Host volumes under nspawn: by default a volume is a recursive bind (the source's
//! submounts come with it) and a slave (a mount the host makes below the source later
//! appears in the pod, once the source is a shared mount); `recursive=false` leaves the
//! submounts out; `propagation=` is refused, since libcontainer 0.7 cannot apply a bind's
//! propagation. The source is bound onto itself as a shared mount for the test, and
//! unmounted again, also when the test fails.

use std::process::Command;

use rukt_tests::pods::HostDir;

use super::store;

/// A host directory bound onto itself as a shared mount with a submount `pre/`; `later/`
/// gets a tmpfs on [`SharedSource::mount_later`]. Everything is unmounted on drop.
struct SharedSource(HostDir);

impl SharedSource {
    fn new() -> SharedSource {
        let dir = HostDir::new();
        let p = dir.path().display().to_string();
        sh(&format!(
            "mount --bind {p} {p} && mount --make-shared {p} && mkdir {p}/pre {p}/later \
             && mount -t tmpfs pre {p}/pre && echo submount > {p}/pre/f"
        ));
        SharedSource(dir)
    }

    fn mount_later(&self) {
        let p = self.0.path().display();
        sh(&format!(
            "mount -t tmpfs later {p}/later && echo from-the-host > {p}/later/f"
        ));
    }
}

impl Drop for SharedSource {
    fn drop(&mut self) {
        let p = self.0.path().display();
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!("umount -l {p}/later; umount -l {p}/pre; umount -l {p}"),
            ])
            .status();
    }
}

fn sh(script: &str) {
    let st = Command::new("sh").args(["-c", script]).status().unwrap();
    assert!(st.success(), "{script}");
}

#[test]
fn volumes_are_recursive_slaves_unless_asked_and_propagation_is_refused() {
    let pods = store();
    let src = SharedSource::new();
    let start = |options: &str, name: &str| {
        let volume = format!("{}{options}", src.0.volume_flag("v", false));
        let script = "echo ready; exec sleep 1000";
        let mut pod = pods.spawn_pod(
            &["--net=none", "--volume", &volume],
            &[
                "--mount",
                "volume=v,target=/v",
                "--name",
                name,
                "--exec",
                "/bin/sh",
                "--",
                "-c",
                script,
            ],
        );
        pod.wait_line("ready");
        pod
    };
    let mut default = start("", "d");
    let mut flat = start(",recursive=false", "f");
    src.mount_later();
    let cat = |uuid: &str, file: &str| pods.run(&["enter", uuid, "/bin/cat", file]).stdout;
    assert_eq!(
        cat(&default.uuid, "/v/pre/f"),
        "submount\n",
        "not recursive by default"
    );
    assert_eq!(
        cat(&default.uuid, "/v/later/f"),
        "from-the-host\n",
        "not a slave by default"
    );
    assert_eq!(
        cat(&flat.uuid, "/v/pre/f"),
        "",
        "recursive=false brought the submount"
    );
    let volume = format!("{},propagation=rshared", src.0.volume_flag("v", false));
    let refused = pods.run(&pods.pod_args("run", &["--volume", &volume], &["--exec", "/bin/true"]));
    assert_eq!(refused.code(), Some(2), "{refused}");
    assert!(refused.stderr.contains("propagation="), "{refused}");
    pods.ok(&["stop", "--force", &default.uuid, &flat.uuid]);
    default.wait();
    flat.wait();
}
