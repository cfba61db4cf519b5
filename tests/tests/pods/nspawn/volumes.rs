//! Host volumes under nspawn: by default a volume is a recursive bind (the source's
//! submounts come with it) and a slave (a mount the host makes below the source later
//! appears in the pod, once the source is a shared mount); `recursive=false` leaves the
//! submounts out; `propagation=shared` makes mounts travel both ways (Kubernetes'
//! Bidirectional) while the app's other volumes stay slaves, and `private` receives nothing.
//! Each source is bound onto itself as a shared mount for the test, and unmounted again,
//! also when the test fails.

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
                &format!(
                    "umount -l {p}/made; umount -l {p}/later; umount -l {p}/pre; umount -l {p}"
                ),
            ])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn sh(script: &str) {
    let st = Command::new("sh").args(["-c", script]).status().unwrap();
    assert!(st.success(), "{script}");
}

#[test]
fn volumes_are_recursive_slaves_unless_asked() {
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
    pods.ok(&["stop", "--force", &default.uuid, &flat.uuid]);
    default.wait();
    flat.wait();
}

#[test]
fn a_shared_volume_propagates_both_ways_and_the_others_do_not() {
    let pods = store();
    let (shared, slave, private) = (
        SharedSource::new(),
        SharedSource::new(),
        SharedSource::new(),
    );
    let flag = |src: &SharedSource, name: &str, options: &str| {
        format!("{}{options}", src.0.volume_flag(name, false))
    };
    let script = "mkdir -p /s/made /d/made && mount -t tmpfs app /s/made \
                  && echo from-the-app > /s/made/f && mount -t tmpfs app /d/made \
                  && echo stays-in-the-pod > /d/made/f && echo ready; exec sleep 1000";
    let mut pod = pods.spawn_pod(
        &[
            "--net=none",
            "--volume",
            &flag(&shared, "s", ",propagation=rshared"),
            "--volume",
            &flag(&slave, "d", ""),
            "--volume",
            &flag(&private, "p", ",propagation=private"),
        ],
        &[
            "--mount",
            "volume=s,target=/s",
            "--mount",
            "volume=d,target=/d",
            "--mount",
            "volume=p,target=/p",
            "--caps-retain=CAP_SYS_ADMIN",
            "--name",
            "kubelet",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            script,
        ],
    );
    pod.wait_line("ready");
    let on_host = |src: &SharedSource, file: &str| {
        std::fs::read_to_string(src.0.path().join(file)).unwrap_or_default()
    };
    assert_eq!(
        on_host(&shared, "made/f"),
        "from-the-app\n",
        "shared: pod to host"
    );
    assert_eq!(
        on_host(&slave, "made/f"),
        "",
        "a slave volume sent a mount back"
    );
    shared.mount_later();
    private.mount_later();
    let cat = |file: &str| pods.run(&["enter", &pod.uuid, "/bin/cat", file]).stdout;
    assert_eq!(cat("/s/later/f"), "from-the-host\n", "shared: host to pod");
    assert_eq!(
        cat("/p/later/f"),
        "",
        "a private volume received the host's mount"
    );
    assert_eq!(cat("/s/pre/f"), "submount\n", "recursive by default");
    pods.ok(&["stop", "--force", &pod.uuid]);
    pod.wait();
    pods.ok(&["gc", "--grace-period=0s"]);
    // The app's mount outlives its pod and gc, as a kubelet's did under rkt.
    assert_eq!(on_host(&shared, "made/f"), "from-the-app\n");
    assert_eq!(
        on_host(&shared, "pre/f"),
        "submount\n",
        "the host's own submount is kept"
    );
}
