//! Pods and the image store: `image gc` keeps what pods use, `image rm` refuses the image of
//! a running pod.

use rukt_tests::pods::{HostDir, MARKER_PATH, MARKER_TEXT, PodStore, gate_script};

#[test]
fn image_gc_keeps_what_a_prepared_pod_uses() {
    let pods = PodStore::new();
    let uuid = pods
        .ok(&pods.pod_args(
            "prepare",
            &[],
            &["--name", "kept", "--exec", "/bin/cat", "--", MARKER_PATH],
        ))
        .trim()
        .to_owned();
    // The user removes the image's name and collects garbage with no grace at all.
    pods.ok(&["image", "rm", &pods.image_id]);
    pods.ok(&["image", "gc", "--grace-period=0s"]);
    let out = pods.run(&["run-prepared", &uuid]);
    assert!(
        out.success(),
        "the prepared pod lost its layers to image gc:\n{out}"
    );
    assert_eq!(out.lines(), [MARKER_TEXT], "{out}");
    pods.ok(&["image", "verify"]);
    pods.ok(&["gc", "--grace-period=0s"]);
    pods.assert_no_mounts("after gc");
}

#[test]
fn image_rm_refuses_the_image_of_a_running_pod() {
    let pods = PodStore::new();
    let gate = HostDir::new();
    let volume = gate.volume_flag("gate", false);
    let script = gate_script(0);
    let mut pod = pods.spawn_pod(
        &["--volume", &volume],
        &[
            "--name",
            "user",
            "--mount",
            "volume=gate,target=/gate",
            "--exec",
            "/bin/sh",
            "--",
            "-c",
            &script,
        ],
    );
    pod.wait_line("ready");
    let out = pods.run(&["image", "rm", &pods.image_id]);
    assert!(
        !out.success(),
        "image rm of a running pod's image must fail:\n{out}"
    );
    assert!(
        out.stderr.contains(&pod.uuid),
        "the message should name the pod:\n{out}"
    );
    assert!(
        pods.rukt().list_ids().contains(&pods.image_id),
        "the image is gone although rm failed"
    );
    pods.ok(&["image", "gc", "--grace-period=0s"]);
    pods.ok(&["image", "verify", &pods.image_id]);

    gate.open_gate();
    assert_eq!(pod.wait_code(), 0, "stderr:\n{}", pod.take_stderr());
    pods.wait_exited(&pod.uuid);
    pods.ok(&["image", "rm", &pods.image_id]);
    assert!(!pods.rukt().list_ids().contains(&pods.image_id));
}
