//! The command line itself: usage errors, and plain HTTP refused unless asked for.

use rukt_tests::fixtures::small_image;
use rukt_tests::image::write_layout;
use rukt_tests::push::push;
use rukt_tests::registry::Registry;
use rukt_tests::rukt::{EXIT_USAGE, Rukt, assert_clean_failure, run_command};

#[test]
fn usage_errors_exit_2() {
    let rukt = Rukt::new();
    for args in [
        &["image", "frobnicate"][..],
        &["fetch"][..],
        &["fetch", "--pull-policy=sometimes", "oci:/x:y"][..],
        &["--no-such-flag", "image", "list"][..],
    ] {
        let out = rukt.run(args);
        assert_eq!(out.code(), Some(EXIT_USAGE), "usage error expected:\n{out}");
        assert!(
            !out.stderr.trim().is_empty(),
            "usage error without a message:\n{out}"
        );
    }
}

#[test]
fn plain_http_needs_insecure_option() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "latest", &[small_image("http")]);
    push(&layout.dir, "latest", &registry, "http:latest");
    let rukt = Rukt::new();
    let out = run_command(rukt.bare_command(&["fetch", &registry.reference("http:latest")]));
    assert_clean_failure(&out);
    assert!(rukt.list().is_empty());
    assert_eq!(
        rukt.fetch(&registry.reference("http:latest")),
        layout.image().id()
    );
}
