//! Fetching from local sources: `oci:DIR:TAG`, `oci-archive:FILE:TAG` and
//! `docker-archive:FILE`, and several images in one command.

use std::fs;

use rukt_tests::digest::sha256;
use rukt_tests::fixtures::{rich_image, small_image};
use rukt_tests::image::{write_layout, write_oci_archive};
use rukt_tests::model;
use rukt_tests::push::to_docker_archive;
use rukt_tests::rukt::Rukt;
use rukt_tests::tree::{self, Attr};

#[test]
fn oci_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = rich_image();
    let layout = write_layout(tmp.path(), "rich", std::slice::from_ref(&spec));
    let rukt = Rukt::new();
    let id = rukt.fetch(&layout.reference());
    assert_eq!(id, layout.image().id());
    rukt.ok(&["image", "verify", &id]);
    assert_eq!(
        rukt.ok(&["image", "cat-manifest", &id]),
        String::from_utf8_lossy(&layout.image().manifest)
    );
    let rootfs = tmp.path().join("rootfs");
    rukt.ok(&["image", "extract", &id, rootfs.to_str().unwrap()]);
    let diff = tree::diff_ignoring(
        &model::flatten(&spec.layers),
        &tree::snapshot(&rootfs),
        &[Attr::DirMtime, Attr::SymlinkMtime],
    );
    assert!(
        diff.is_empty(),
        "extracted rootfs differs (- expected, + extracted):\n{}",
        diff.join("\n")
    );
}

#[test]
fn oci_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(&tmp.path().join("layout"), "v1", &[small_image("archived")]);
    let archive = tmp.path().join("image.tar");
    write_oci_archive(&layout.dir, &archive);
    let rukt = Rukt::new();
    let reference = format!("oci-archive:{}:v1", archive.display());
    let id = rukt.fetch_with(&["--quiet"], &reference);
    assert_eq!(id, layout.image().id());
    rukt.ok(&["image", "verify", &id]);
    let rootfs = tmp.path().join("rootfs");
    rukt.ok(&["image", "extract", &id, rootfs.to_str().unwrap()]);
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/archived")).unwrap(),
        "archived\n"
    );
}

#[test]
fn docker_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = small_image("docker");
    let layout = write_layout(
        &tmp.path().join("layout"),
        "v1",
        std::slice::from_ref(&spec),
    );
    let archive = tmp.path().join("docker.tar");
    to_docker_archive(&layout.dir, "v1", &archive, "docker:v1");

    // The ID is the digest of the config file in the archive (skopeo keeps it byte for byte).
    let manifest: serde_json::Value = {
        let mut tar = tar::Archive::new(fs::File::open(&archive).unwrap());
        let mut found = None;
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_str() == Some("manifest.json") {
                found = Some(serde_json::from_reader(&mut entry).unwrap());
            }
        }
        found.expect("manifest.json in the docker-archive")
    };
    let config_name = manifest[0]["Config"].as_str().unwrap().to_owned();
    let config = {
        let mut tar = tar::Archive::new(fs::File::open(&archive).unwrap());
        let mut bytes = Vec::new();
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            if entry.path().unwrap().to_str() == Some(config_name.as_str()) {
                std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            }
        }
        bytes
    };
    assert_eq!(
        sha256(&config),
        layout.image().id(),
        "skopeo rewrote the config"
    );

    let rukt = Rukt::new();
    let id = rukt.fetch(&format!("docker-archive:{}", archive.display()));
    assert_eq!(id, layout.image().id());
    rukt.ok(&["image", "verify", &id]);
    let rootfs = tmp.path().join("rootfs");
    rukt.ok(&["image", "extract", &id, rootfs.to_str().unwrap()]);
    let diff = tree::diff_ignoring(
        &model::flatten(&spec.layers),
        &tree::snapshot(&rootfs),
        &[Attr::DirMtime, Attr::SymlinkMtime],
    );
    assert!(
        diff.is_empty(),
        "extracted rootfs differs (- expected, + extracted):\n{}",
        diff.join("\n")
    );
}

#[test]
fn several_images_in_one_command() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_layout(tmp.path(), "a", &[small_image("a")]);
    let b = write_layout(tmp.path(), "b", &[small_image("b")]);
    let rukt = Rukt::new();
    let out = rukt.run(&["--debug", "fetch", &a.reference(), &b.reference()]);
    assert!(out.success(), "{out}");
    assert_eq!(
        out.lines(),
        vec![a.image().id(), b.image().id()],
        "one ID per image, in order:\n{out}"
    );
    let mut expected = vec![a.image().id().to_owned(), b.image().id().to_owned()];
    expected.sort();
    assert_eq!(rukt.list_ids(), expected);
}
