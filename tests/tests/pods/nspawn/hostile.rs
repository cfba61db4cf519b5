//! Hostile images: paths from the image (a symlinked `/dev`, a symlinked volume target, a
//! `/proc/self/fd/N` working directory) are resolved inside the pod's root or refused, and
//! never touch the host.

use std::path::Path;

use rukt_tests::image::{Compression, Entry, Layer};
use rukt_tests::inspector;
use rukt_tests::pods::{HostDir, PodStore, mounts_below, pod_image};
use rukt_tests::rukt::Output;

use super::app::{App, run, run_image};
use super::store;

/// The pod image with the inspector and `entries` on top, added to the store's layout.
fn hostile_image(pods: &PodStore, tag: &str, entries: Vec<Entry>) -> String {
    let mut spec = pod_image();
    spec.layers.push(inspector::layer());
    spec.layers.push(Layer::new(Compression::Gzip, entries));
    pods.add_image(tag, spec)
}

/// `../` enough times to climb from any pod root to the host's `/`, then `path`.
fn climbing(path: &Path) -> String {
    format!(
        "{}{}",
        "../".repeat(24),
        path.to_str().unwrap().trim_start_matches('/')
    )
}

/// A store whose pods run at all: the baseline that makes "refused" mean something.
fn working_store() -> PodStore {
    let pods = store();
    let out = run(&pods, &[], &[App::sh("baseline", "true")]);
    assert!(out.success(), "a plain pod does not run:\n{out}");
    pods
}

/// Runs `script` in a pod of `image` with volume flag `vol` mounted at `/data`.
fn run_on_volume(pods: &PodStore, vol: &str, image: &str, script: &str) -> Output {
    let app = App::sh("mnt", script).with(&["--mount", "volume=data,target=/data"]);
    run_image(pods, &["--volume", vol], image, &[app])
}

/// A pod the engine refused or ran: either is safe, a crash or a signal is not.
fn assert_safe_outcome(out: &Output) {
    assert!(out.code().is_some(), "the pod ended by a signal:\n{out}");
    assert!(!out.stderr.contains("panicked at"), "a panic:\n{out}");
    if !out.success() {
        assert!(
            !out.stderr.trim().is_empty(),
            "a failure without a message:\n{out}"
        );
    }
}

/// Asserts the host directory is as the test made it: empty and not a mount point.
fn assert_untouched(dir: &Path, what: &str) {
    let entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{what}: {} is gone: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        entries.is_empty(),
        "{what}: host files created in {}: {entries:?}",
        dir.display()
    );
    let mounts = mounts_below(dir);
    assert!(mounts.is_empty(), "{what}: host mounts at {mounts:?}");
}

#[test]
fn symlinked_dev_stays_inside() {
    let pods = working_store();
    let host = HostDir::new();
    for (tag, target) in [
        ("dev-absolute", host.path().to_str().unwrap().to_owned()),
        ("dev-climbing", climbing(host.path())),
    ] {
        let image = hostile_image(&pods, tag, vec![Entry::symlink("dev", &target)]);
        let app = App::sh("dev", "test -c /dev/null && echo null-inside");
        let out = run_image(&pods, &[], &image, &[app]);
        assert_safe_outcome(&out);
        if out.success() {
            assert_eq!(out.lines(), ["null-inside"], "{tag}:\n{out}");
        }
        assert_untouched(host.path(), tag);
    }
}

#[test]
fn symlinked_mount_target_stays_inside() {
    let pods = working_store();
    let host = HostDir::new();
    let volume = HostDir::new();
    let vol = volume.volume_flag("data", false);
    let escape = host.path().join("sub");
    for (tag, target) in [
        ("target-absolute", escape.to_str().unwrap().to_owned()),
        ("target-climbing", climbing(&escape)),
    ] {
        let image = hostile_image(&pods, tag, vec![Entry::symlink("data", &target)]);
        let out = run_on_volume(
            &pods,
            &vol,
            &image,
            &format!("echo {tag} > /data/{tag} && echo written"),
        );
        assert_safe_outcome(&out);
        assert_untouched(host.path(), tag);
        if out.success() {
            assert_eq!(out.lines(), ["written"], "{tag}:\n{out}");
            let landed = std::fs::read_to_string(volume.path().join(tag));
            assert!(
                landed.is_ok_and(|t| t.trim() == tag),
                "{tag}: the app's write through its mount did not reach the volume"
            );
        }
    }
}

/// The other side of resolving inside the root: an image's symlink that stays inside it (as
/// `/var/run -> /run` does in many images) is followed there, so the volume appears where the
/// app looks for it.
#[test]
fn symlinked_mount_target_inside_the_root_is_followed() {
    let pods = working_store();
    for (tag, target) in [
        ("inside-absolute", "/srv/real"),
        ("inside-relative", "srv/real"),
    ] {
        let volume = HostDir::new();
        let vol = volume.volume_flag("data", false);
        let image = hostile_image(
            &pods,
            tag,
            vec![
                Entry::dir("srv"),
                Entry::dir("srv/real"),
                Entry::symlink("data", target),
            ],
        );
        let out = run_on_volume(
            &pods,
            &vol,
            &image,
            "echo via-link > /data/f && cat /srv/real/f",
        );
        assert!(out.success(), "{tag}:\n{out}");
        assert_eq!(out.lines(), ["via-link"], "{tag}:\n{out}");
        assert_eq!(
            std::fs::read_to_string(volume.path().join("f")).unwrap_or_default(),
            "via-link\n",
            "{tag}: the write did not reach the volume"
        );
    }
}

#[test]
fn proc_self_fd_working_dir_stays_inside() {
    let pods = working_store();
    let host = HostDir::new();
    let marker = host.path().join("escape-marker");
    std::fs::write(&marker, "ESCAPED\n").unwrap();
    let script = format!(
        "cat {climb} {abs} 2>/dev/null; ls {up} 2>/dev/null | grep -qx rukt-pod-marker || echo no-marker",
        climb = climbing(&marker),
        abs = marker.display(),
        up = climbing(Path::new("etc")),
    );
    let image = hostile_image(&pods, "workdir", Vec::new());
    for n in 3..=9 {
        let dir = format!("/proc/self/fd/{n}");
        for image in [pods.image.clone(), image.clone()] {
            let app = App::sh("cwd", &script).with(&["--working-dir", &dir]);
            let out = run_image(&pods, &[], &image, &[app]);
            assert!(out.code().is_some(), "{dir}: ended by a signal:\n{out}");
            assert!(
                !out.stdout.contains("ESCAPED"),
                "{dir}: read a host file:\n{out}"
            );
            assert!(
                !out.stdout.contains("no-marker"),
                "{dir}: `..` from the working directory left the pod's root:\n{out}"
            );
        }
    }
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ESCAPED\n");
}
