//! Malformed images: a manifest that does not parse, a layer whose media
//! type lies about its compression or is not a layer at all, and a config
//! whose diff_ids do not match the layers. Each is a clear error, and the
//! store is exactly as before.

use rukt_tests::digest::sha256;
use rukt_tests::fixtures::small_image;
use rukt_tests::image::{Layout, write_layout};
use rukt_tests::rukt::{Rukt, assert_clean_failure, assert_store_unchanged};
use serde_json::{Value, json};

/// Writes `data` as a blob of the layout and returns its digest.
fn put_blob(layout: &Layout, data: &[u8]) -> String {
    let digest = sha256(data);
    let hex = digest.trim_start_matches("sha256:");
    std::fs::write(layout.dir.join("blobs/sha256").join(hex), data).unwrap();
    digest
}

/// Points the layout's tag at `manifest` (raw bytes).
fn retag(layout: &Layout, manifest: &[u8]) {
    let digest = put_blob(layout, manifest);
    let path = layout.dir.join("index.json");
    let mut index: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    for m in index["manifests"].as_array_mut().unwrap() {
        m["digest"] = json!(digest);
        m["size"] = json!(manifest.len());
    }
    std::fs::write(path, serde_json::to_vec(&index).unwrap()).unwrap();
}

fn manifest_of(layout: &Layout) -> Value {
    serde_json::from_slice(&layout.image().manifest).unwrap()
}

/// Fetches the broken `layout` into a store that holds a good image, and
/// checks the failure is clean, mentions `expect` and changes nothing.
fn refused(layout: &Layout, expect: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let good = write_layout(dir.path(), "good", &[small_image("good")]);
    let rukt = Rukt::new();
    rukt.fetch(&good.reference());
    let before = rukt.snapshot();
    let out = rukt.run(&["fetch", &layout.reference()]);
    assert_clean_failure(&out);
    for e in expect {
        assert!(
            out.stderr.contains(e),
            "the error should mention {e:?}:\n{out}"
        );
    }
    assert_store_unchanged(&before, &rukt.snapshot(), "a refused malformed image");
    assert_eq!(rukt.list().len(), 1);
}

#[test]
fn manifest_that_does_not_parse() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "bad", &[small_image("bad")]);
    let mut m = manifest_of(&layout);
    m["layers"] = json!("not a list");
    retag(&layout, &serde_json::to_vec(&m).unwrap());
    refused(&layout, &["malformed manifest"]);
}

#[test]
fn layer_media_type_lies_about_compression() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "bad", &[small_image("bad")]);
    let mut m = manifest_of(&layout);
    // The blobs are gzip; claim zstd.
    m["layers"][1]["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+zstd");
    retag(&layout, &serde_json::to_vec(&m).unwrap());
    refused(&layout, &["Zstd", "Gzip"]);
}

#[test]
fn layer_with_a_media_type_that_is_no_layer() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "bad", &[small_image("bad")]);
    let mut m = manifest_of(&layout);
    m["layers"][1]["mediaType"] = json!("application/vnd.example.payload+json");
    retag(&layout, &serde_json::to_vec(&m).unwrap());
    refused(&layout, &["application/vnd.example.payload+json"]);
}

#[test]
fn config_diff_ids_that_do_not_match_the_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "bad", &[small_image("bad")]);
    let mut config: Value = serde_json::from_slice(&layout.image().config).unwrap();
    let wrong = sha256(b"not the layer");
    config["rootfs"]["diff_ids"][1] = json!(wrong);
    let config = serde_json::to_vec(&config).unwrap();
    let mut m = manifest_of(&layout);
    m["config"]["digest"] = json!(put_blob(&layout, &config));
    m["config"]["size"] = json!(config.len());
    retag(&layout, &serde_json::to_vec(&m).unwrap());
    refused(&layout, &["diff_id", &wrong]);
}

#[test]
fn config_with_fewer_diff_ids_than_layers() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "bad", &[small_image("bad")]);
    let mut config: Value = serde_json::from_slice(&layout.image().config).unwrap();
    config["rootfs"]["diff_ids"].as_array_mut().unwrap().pop();
    let config = serde_json::to_vec(&config).unwrap();
    let mut m = manifest_of(&layout);
    m["config"]["digest"] = json!(put_blob(&layout, &config));
    m["config"]["size"] = json!(config.len());
    retag(&layout, &serde_json::to_vec(&m).unwrap());
    refused(&layout, &["2 layers", "1 diff_ids"]);
}
