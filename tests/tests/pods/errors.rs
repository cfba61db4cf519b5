//! Bad input fails cleanly: a non-zero exit code, a message saying what is wrong, no panic,
//! and no pod directory left behind.

use rukt_tests::pods::PodStore;
use rukt_tests::rukt::{EXIT_ERROR, EXIT_USAGE, Output};

/// Asserts a clean failure whose stderr mentions every one of `words` (case-insensitive), and
/// that the set of pod directories did not change.
fn assert_refused(pods: &PodStore, args: &[&str], words: &[&str]) -> Output {
    let before = pods.pod_dirs();
    let out = pods.run(args);
    assert!(!out.success(), "expected a failure:\n{out}");
    assert!(
        matches!(out.code(), Some(EXIT_ERROR | EXIT_USAGE)),
        "expected rukt's error (254) or usage (2) exit code, not a crash or signal:\n{out}"
    );
    assert!(!out.stderr.contains("panicked at"), "rukt panicked:\n{out}");
    let stderr = out.stderr.to_lowercase();
    for w in words {
        assert!(
            stderr.contains(&w.to_lowercase()),
            "the message should mention {w:?}:\n{out}"
        );
    }
    let after = pods.pod_dirs();
    assert_eq!(
        before, after,
        "a failed command left pod directories:\n{out}"
    );
    pods.assert_no_mounts("after a refused command");
    out
}

#[test]
fn bad_input_fails_cleanly() {
    let pods = PodStore::new();
    let missing = tempfile::tempdir().unwrap();
    let nowhere = missing.path().join("no-such-layout");
    let unknown_image = format!("oci:{}:nope", nowhere.display());

    // An image that does not exist.
    assert_refused(
        &pods,
        &["run", "--stage1=fly", &unknown_image, "--exec", "/bin/true"],
        &["no-such-layout"],
    );
    // A tag the layout does not have.
    let no_tag = pods.image_tag("no-such-tag");
    assert_refused(&pods, &["run", "--stage1=fly", &no_tag], &["no-such-tag"]);
    // A volume source that does not exist.
    let gone = missing.path().join("gone");
    let volume = format!("v,kind=host,source={}", gone.display());
    assert_refused(
        &pods,
        &pods.pod_args(
            "run",
            &["--volume", &volume],
            &["--mount", "volume=v,target=/v", "--exec", "/bin/true"],
        ),
        &["gone"],
    );
    // A mount of a volume nobody defined.
    assert_refused(
        &pods,
        &pods.pod_args(
            "run",
            &[],
            &["--mount", "volume=ghost,target=/g", "--exec", "/bin/true"],
        ),
        &["ghost"],
    );
    // An app flag before any image.
    assert_refused(
        &pods,
        &["run", "--stage1=fly", "--exec", "/bin/true", &pods.image],
        &["--exec", "image"],
    );
    // A user the image does not know.
    assert_refused(
        &pods,
        &pods.pod_args("run", &[], &["--user", "mallory", "--exec", "/bin/true"]),
        &["mallory"],
    );
    // A stage1 that does not exist.
    assert_refused(
        &pods,
        &[
            "run",
            "--stage1=no-such-flavor",
            &pods.image,
            "--exec",
            "/bin/true",
        ],
        &["no-such-flavor"],
    );
    // The same through prepare.
    assert_refused(
        &pods,
        &["prepare", "--stage1=fly", &unknown_image],
        &["no-such-layout"],
    );

    // Unknown UUIDs, for every verb that takes one.
    let unknown = "0f0f0f0f-0000-4000-8000-000000000000";
    for verb in [
        &["status", unknown][..],
        &["rm", unknown][..],
        &["stop", unknown][..],
        &["run-prepared", unknown][..],
        &["cat-manifest", unknown][..],
        &["enter", unknown, "true"][..],
        &["status", "--wait=1s", unknown][..],
    ] {
        assert_refused(&pods, verb, &[unknown]);
    }
    assert!(pods.pod_dirs().is_empty());
}

#[test]
fn ambiguous_uuid_prefix_is_refused() {
    let pods = PodStore::new();
    // Prepare pods until two share their first hex digit (at most 17 by pigeonhole).
    let mut uuids: Vec<String> = Vec::new();
    let prefix = loop {
        let out = pods.ok(&pods.pod_args("prepare", &[], &["--exec", "/bin/true"]));
        let uuid = out.trim().to_owned();
        let first = uuid[..1].to_owned();
        let clash = uuids.iter().any(|u| u.starts_with(&first));
        uuids.push(uuid);
        if clash {
            break first;
        }
        assert!(
            uuids.len() <= 17,
            "17 UUIDs cannot all differ in their first digit"
        );
    };
    let matching: Vec<&String> = uuids.iter().filter(|u| u.starts_with(&prefix)).collect();
    for verb in ["status", "rm", "run-prepared", "cat-manifest"] {
        let out = assert_refused(&pods, &[verb, &prefix], &["ambiguous"]);
        for u in &matching {
            assert!(
                out.stderr.contains(u.as_str()),
                "the message should list the candidates:\n{out}"
            );
        }
    }
    // Every pod is still prepared, and a unique prefix works.
    let list = pods.list();
    assert_eq!(list.len(), uuids.len());
    assert!(list.iter().all(|r| r["state"] == "prepared"), "{list:#?}");
    let unique = &matching[0][..36];
    assert_eq!(pods.ok(&["rm", unique]).trim(), unique);
    assert_eq!(pods.list().len(), uuids.len() - 1);
}
