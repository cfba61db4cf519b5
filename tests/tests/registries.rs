//! Registry behaviour beyond the basics: mirrors configured in
//! `registries.conf` (and plain HTTP allowed per registry there, not by
//! flag), and Docker v2 schema 2 manifests as well as OCI ones.

use rukt_tests::fixtures::small_image;
use rukt_tests::image::write_layout;
use rukt_tests::push::push;
use rukt_tests::registry::Registry;
use rukt_tests::rukt::{Rukt, run_command};
use rukt_tests::tools;

/// A registry that does not exist (the name does not resolve) is served by
/// its mirror, which registries.conf also marks as plain HTTP.
#[test]
fn mirror_stands_in_for_an_unreachable_registry() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "v1", &[small_image("mirrored")]);
    push(&layout.dir, "v1", &registry, "team/app:1");
    let config = tmp.path().join("conf");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("registries.conf"),
        format!(
            "[[registry]]\nlocation = \"registry.invalid:5000\"\n\n[[registry.mirror]]\nlocation = \"{}\"\ninsecure = true\n",
            registry.host()
        ),
    )
    .unwrap();
    let rukt = Rukt::new();
    let reference = "docker://registry.invalid:5000/team/app:1";

    // Without the configuration the name does not resolve.
    let mut cmd = rukt.bare_command(&["fetch", reference]);
    cmd.env("RUKT_CONFIG_DIR", tmp.path().join("empty"));
    let out = run_command(cmd);
    assert!(!out.success(), "fetch without a mirror should fail:\n{out}");

    let mut cmd =
        rukt.bare_command(&["--config-dir", config.to_str().unwrap(), "fetch", reference]);
    cmd.env_remove("RUKT_CONFIG_DIR");
    let out = run_command(cmd);
    assert!(out.success(), "fetch through the mirror failed:\n{out}");
    assert_eq!(out.stdout.trim(), layout.image().id());
    let names: Vec<String> = rukt
        .list()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        vec!["registry.invalid:5000/team/app:1"],
        "the image keeps its own name"
    );
    assert!(
        registry.log().contains("/v2/team/app/manifests/1"),
        "the mirror was not asked for the manifest:\n{}",
        registry.log()
    );
    rukt.ok(&["image", "verify"]);
}

/// skopeo converts the image to Docker v2 schema 2 on push; rukt fetches
/// it, keeps the manifest as served, and the image works the same.
#[test]
fn docker_v2_schema2_manifests() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "v1", &[small_image("docker")]);
    tools::run_checked(
        &tools::require("skopeo", "install the Debian package skopeo"),
        &[
            "--insecure-policy",
            "copy",
            "--quiet",
            "--format",
            "v2s2",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", layout.dir.display()),
            &format!("docker://{}/docker/app:1", registry.host()),
        ],
    );
    let rukt = Rukt::new();
    let id = rukt.fetch(&format!("docker://{}/docker/app:1", registry.host()));
    let manifest: serde_json::Value =
        serde_json::from_str(&rukt.ok(&["image", "cat-manifest", &id])).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    assert_eq!(
        rukt.inspect(&id)["manifest_media_type"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    rukt.ok(&["image", "verify", &id]);
    let root = tmp.path().join("rootfs");
    rukt.ok(&["image", "extract", &id, root.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/docker")).unwrap(),
        "docker\n"
    );
}
