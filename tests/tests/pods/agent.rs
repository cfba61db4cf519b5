//! fly's purpose: agents that manage their host (configuration management, kubelet) from a
//! pod. The app edits a host file through a `kind=host` volume and finds a host process
//! through `/proc` (fly shares the host's PID namespace); a read-only volume stays unwritten.

use rukt_tests::pods::{HostDir, HostProcess, PodStore};

#[test]
fn agent_edits_host_files_and_sees_host_processes() {
    let pods = PodStore::new();
    let host = HostDir::new();
    let config = host.path().join("config");
    std::fs::write(&config, "# managed by an agent\nsetting=old\nkeep=this\n").unwrap();
    let target = HostProcess::sleep();

    // The agent looks for the process by its argv[0] among all of /proc, as a
    // configuration-management tool would, and records what it found in the host file.
    let script = r#"
        sed -i 's/^setting=old$/setting=new/' /host/config || exit 10
        echo "agent=was-here" >> /host/config || exit 11
        for p in /proc/[0-9]*; do
            if tr '\0' '\n' < "$p/cmdline" 2>/dev/null | head -n 1 | grep -qx "$MARKER"; then
                echo "found ${p#/proc/}"
            fi
        done
    "#;
    let volume = host.volume_flag("host", false);
    let out = pods.run(&pods.pod_args(
        "run",
        &["--volume", &volume],
        &[
            "--name",
            "agent",
            "--mount",
            "volume=host,target=/host",
            "--environment",
            &format!("MARKER={}", target.marker),
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            script,
        ],
    ));
    assert!(out.success(), "{out}");
    assert_eq!(
        out.lines(),
        [format!("found {}", target.pid())],
        "the app must find exactly the host process (fly shares the host PID namespace):\n{out}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "# managed by an agent\nsetting=new\nkeep=this\nagent=was-here\n",
        "the host file was not edited as asked"
    );
    pods.ok(&["gc", "--grace-period=0s"]);
    pods.assert_no_mounts("after gc");
    assert!(
        config.is_file(),
        "removing the pod touched the host volume's files"
    );
}

#[test]
fn read_only_volume_cannot_be_written() {
    let pods = PodStore::new();
    let host = HostDir::new();
    std::fs::write(host.path().join("data"), "precious\n").unwrap();
    let volume = host.volume_flag("ro", true);
    let out = pods.run(&pods.pod_args(
        "run",
        &["--volume", &volume],
        &[
            "--name",
            "reader",
            "--mount",
            "volume=ro,target=/ro",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "cat /ro/data; echo changed > /ro/data; echo new > /ro/new; rm -f /ro/data; \
             test -e /ro/data && test ! -e /ro/new",
        ],
    ));
    assert!(
        out.success(),
        "every write must fail and the files stay:\n{out}"
    );
    assert_eq!(out.lines(), ["precious"], "{out}");
    assert!(
        out.stderr.to_lowercase().contains("read-only"),
        "no read-only error:\n{out}"
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("data")).unwrap(),
        "precious\n"
    );
    assert!(!host.path().join("new").exists());

    // The same directory mounted read-write is writable: the refusal came from readOnly.
    let volume = host.volume_flag("rw", false);
    let out = pods.run(&pods.pod_args(
        "run",
        &["--volume", &volume],
        &[
            "--name",
            "writer",
            "--mount",
            "volume=rw,target=/rw",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            "echo new > /rw/new",
        ],
    ));
    assert!(out.success(), "{out}");
    assert_eq!(
        std::fs::read_to_string(host.path().join("new")).unwrap(),
        "new\n"
    );
}
