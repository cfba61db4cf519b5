//! Checks of the harness itself (registry, image builder, skopeo, umoci, the flattening
//! model): these need no rukt binary, so a red rukt test is never the harness's fault.

use rukt_tests::fixtures::{rich_image, rich_layers};
use rukt_tests::hostile::{Hostile, gzip_bomb, raw_tar};
use rukt_tests::image::{ImageSpec, write_layout};
use rukt_tests::registry::Registry;
use rukt_tests::tree;
use rukt_tests::{model, push, umoci};

#[test]
fn registry_serves_the_pushed_manifest_bytes() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "v1", &[rich_image()]);
    push::push(&layout.dir, "v1", &registry, "rich:v1");
    let image = layout.image();
    let served = push::raw_manifest(&format!("docker://{}/rich:v1", registry.host()));
    assert_eq!(
        String::from_utf8_lossy(&served),
        String::from_utf8_lossy(&image.manifest),
        "skopeo changed the manifest while pushing"
    );
    for layer in &image.layers {
        let stored = std::fs::read(registry.blob_file(&layer.digest)).unwrap();
        assert_eq!(
            stored.as_slice(),
            layer.bytes.as_slice(),
            "blob {}",
            layer.digest
        );
    }
    let reqs = registry.requests();
    assert!(
        reqs.iter()
            .any(|r| r.method == "PUT" && r.path.contains("/manifests/")),
        "no manifest PUT in the access log:\n{}",
        registry.log()
    );
}

#[test]
fn multi_arch_index_is_pushed_intact() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let amd = ImageSpec::new(vec![rukt_tests::image::busybox_layer()]);
    let arm = amd.clone().arch("arm64", Some("v8"));
    let layout = write_layout(tmp.path(), "multi", &[amd, arm]);
    push::push(&layout.dir, "multi", &registry, "multi:latest");
    let served = push::raw_manifest(&format!("docker://{}/multi:latest", registry.host()));
    assert_eq!(Some(served), layout.index);
}

#[test]
fn umoci_unpack_matches_the_flattening_model() {
    let tmp = tempfile::tempdir().unwrap();
    // umoci 0.4.7 does not know zstd layers.
    let layers = rich_layers(false);
    let layout = write_layout(
        &tmp.path().join("layout"),
        "rich",
        &[ImageSpec::new(layers.clone())],
    );
    let rootfs = umoci::unpack(&layout.dir, "rich", &tmp.path().join("bundle"));
    let actual = tree::snapshot(&rootfs);
    let expected = model::flatten(&layers);
    assert!(
        actual.len() > 100,
        "suspiciously small tree: {} entries",
        actual.len()
    );
    let diff = tree::diff(&expected, &actual);
    assert!(diff.is_empty(), "model vs umoci:\n{}", diff.join("\n"));
}

#[test]
fn hostile_tars_parse() {
    for case in Hostile::ALL {
        let tar = raw_tar(&case.entries("marker"));
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<Vec<u8>> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path_bytes().into_owned())
            .collect();
        let expected: Vec<Vec<u8>> = case.entries("marker").into_iter().map(|e| e.name).collect();
        assert_eq!(names, expected, "{case:?}");
    }
    let bomb = gzip_bomb(64 << 20);
    let blob = bomb.blob();
    assert!(
        blob.size() < 1 << 20,
        "bomb is {} bytes compressed",
        blob.size()
    );
}
