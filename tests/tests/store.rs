//! The image store: removing images (by name, by ID prefix, ambiguous and unknown prefixes),
//! garbage collection, export and re-import, verification against tampering, extraction rules.

use std::collections::BTreeMap;
use std::fs;

use rukt_tests::fixtures::{rich_image, small_image};
use rukt_tests::image::{Compression, Entry, ImageSpec, Layer, busybox_layer, write_layout};
use rukt_tests::push::{self, push};
use rukt_tests::registry::Registry;
use rukt_tests::rukt::{Rukt, assert_clean_failure, assert_store_unchanged};

fn hex(id: &str) -> &str {
    rukt_tests::digest::hex_of(id)
}

#[test]
fn rm_by_name_and_by_id_prefix() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let one = write_layout(tmp.path(), "one", &[small_image("one")]);
    let two = write_layout(tmp.path(), "two", &[small_image("two")]);
    push(tmp.path(), "one", &registry, "one:latest");
    push(tmp.path(), "two", &registry, "two:latest");
    let rukt = Rukt::new();
    let id_one = rukt.fetch(&registry.reference("one:latest"));
    let id_two = rukt.fetch(&registry.reference("two:latest"));
    assert_eq!(
        (id_one.as_str(), id_two.as_str()),
        (one.image().id(), two.image().id())
    );

    let name_one = rukt.record(&id_one)["name"].as_str().unwrap().to_owned();
    rukt.ok(&["image", "rm", &name_one]);
    assert_eq!(
        rukt.list_ids(),
        vec![id_two.clone()],
        "rm by name {name_one:?}"
    );

    let out = rukt.fail(&["image", "rm", &name_one]);
    assert!(
        out.stderr.contains(&name_one),
        "the error should name the unknown image:\n{out}"
    );

    rukt.ok(&["image", "rm", &hex(&id_two)[..12]]);
    assert!(
        rukt.list().is_empty(),
        "rm by ID prefix left {:?}",
        rukt.list()
    );

    // What remains is garbage only: the layers of both images are collectable.
    rukt.ok(&["image", "gc"]);
    for image in [one.image(), two.image()] {
        for layer in &image.layers {
            assert!(
                !rukt.layer_rootfs(&layer.diff_id).exists(),
                "layer {} kept",
                layer.diff_id
            );
            assert!(
                !rukt.blob_path(&layer.digest).exists(),
                "blob {} kept",
                layer.digest
            );
        }
    }
}

/// Two images whose IDs share their first four hex digits (found by varying a label).
fn colliding_images() -> (ImageSpec, ImageSpec) {
    let layer = Layer::new(Compression::Gzip, vec![Entry::file("hello", "hello\n")]);
    let mut seen: BTreeMap<String, ImageSpec> = BTreeMap::new();
    for nonce in 0.. {
        let spec = ImageSpec::new(vec![layer.clone()]).label("nonce", &nonce.to_string());
        let id = rukt_tests::digest::sha256(&spec.config_json());
        let prefix = hex(&id)[..4].to_owned();
        if let Some(other) = seen.remove(&prefix) {
            return (other, spec);
        }
        seen.insert(prefix, spec);
    }
    unreachable!()
}

#[test]
fn rm_refuses_ambiguous_and_short_prefixes() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = colliding_images();
    let a = write_layout(tmp.path(), "a", &[a]);
    let b = write_layout(tmp.path(), "b", &[b]);
    let rukt = Rukt::new();
    let id_a = rukt.fetch(&a.reference());
    let id_b = rukt.fetch(&b.reference());
    let prefix = &hex(&id_a)[..4];
    assert_eq!(prefix, &hex(&id_b)[..4]);
    let before = rukt.snapshot();

    let out = rukt.fail(&["image", "rm", prefix]);
    assert!(
        out.stderr.to_lowercase().contains("ambiguous"),
        "the error should say the prefix is ambiguous:\n{out}"
    );
    rukt.fail(&["image", "rm", &prefix[..3]]);
    rukt.fail(&["image", "rm", "ffffffffffff"]);
    assert_store_unchanged(&before, &rukt.snapshot(), "refused rm");

    // The full ID always works; then the prefix is no longer ambiguous.
    rukt.ok(&["image", "rm", &id_a]);
    assert_eq!(rukt.list_ids(), vec![id_b.clone()]);
    rukt.ok(&["image", "rm", prefix]);
    assert!(rukt.list().is_empty());
}

#[test]
fn gc_keeps_shared_layers_and_removes_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let a = write_layout(tmp.path(), "a", &[small_image("gc-a")]);
    let b = write_layout(tmp.path(), "b", &[small_image("gc-b")]);
    let rukt = Rukt::new();
    let id_a = rukt.fetch(&a.reference());
    let id_b = rukt.fetch(&b.reference());

    // Nothing to collect yet; images used within the grace period keep their names.
    let before = rukt.snapshot();
    rukt.ok(&["image", "gc"]);
    rukt.ok(&["image", "gc", "--grace-period=24h"]);
    assert_store_unchanged(&before, &rukt.snapshot(), "gc of a store without garbage");

    // A crashed fetch's leftovers.
    let leftover = rukt.store().join("tmp/leftover-of-a-crashed-fetch");
    fs::create_dir_all(&leftover).unwrap();
    fs::write(leftover.join("partial-blob"), b"partial").unwrap();

    rukt.ok(&["image", "rm", &id_a]);
    rukt.ok(&["image", "gc"]);
    let (a, b) = (a.image(), b.image());
    let shared = busybox_layer();
    let shared = shared.blob();
    assert!(
        rukt.layer_rootfs(&shared.diff_id).is_dir(),
        "shared layer removed"
    );
    assert!(
        rukt.blob_path(&shared.digest).is_file(),
        "shared blob removed"
    );
    assert!(
        !rukt.layer_rootfs(&a.layers[1].diff_id).exists(),
        "removed image's layer kept"
    );
    assert!(
        !rukt.blob_path(&a.layers[1].digest).exists(),
        "removed image's blob kept"
    );
    assert!(
        !rukt.blob_path(&a.config_digest).exists(),
        "removed image's config kept"
    );
    assert!(
        !rukt.blob_path(&a.manifest_digest).exists(),
        "removed image's manifest kept"
    );
    assert!(rukt.layer_rootfs(&b.layers[1].diff_id).is_dir());
    assert!(!leftover.exists(), "gc left {} behind", leftover.display());
    assert_eq!(rukt.list_ids(), vec![id_b.clone()]);
    rukt.ok(&["image", "verify", &id_b]);
    let rootfs = tmp.path().join("rootfs");
    rukt.ok(&["image", "extract", &id_b, rootfs.to_str().unwrap()]);
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/gc-b")).unwrap(),
        "gc-b\n"
    );
}

#[test]
fn export_and_fetch_back() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(&tmp.path().join("src"), "rich", &[rich_image()]);
    let rukt = Rukt::new();
    let id = rukt.fetch(&layout.reference());
    let manifest = rukt.record(&id)["manifest"].clone();

    let exported_dir = tmp.path().join("exported");
    let exported = format!("oci:{}:again", exported_dir.display());
    rukt.ok(&["image", "export", &id, &exported]);
    assert_eq!(
        push::raw_manifest(&exported),
        layout.image().manifest,
        "the exported layout must hold the manifest as fetched (read with skopeo)"
    );
    let archive = tmp.path().join("exported.tar");
    let archived = format!("oci-archive:{}:again", archive.display());
    rukt.ok(&["image", "export", &id, &archived]);

    for source in [exported, archived] {
        let fresh = Rukt::new();
        assert_eq!(fresh.fetch(&source), id, "{source} holds another image");
        assert_eq!(
            fresh.record(&id)["manifest"],
            manifest,
            "{source} changed the manifest"
        );
        fresh.ok(&["image", "verify", &id]);
    }
}

#[test]
fn verify_detects_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "v", &[small_image("verified")]);
    let image = layout.image();
    let top = &image.layers[1];

    // A file changed inside an unpacked layer.
    let rukt = Rukt::new();
    let id = rukt.fetch(&layout.reference());
    rukt.ok(&["image", "verify", &id]);
    fs::write(
        rukt.layer_rootfs(&top.diff_id).join("etc/verified"),
        b"changed!\n",
    )
    .unwrap();
    let out = rukt.fail(&["image", "verify", &id]);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains("etc/verified") || said.contains(hex(&top.diff_id)),
        "verify should name the changed file or its layer:\n{out}"
    );

    // A file added to an unpacked layer.
    let rukt = Rukt::new();
    let id = rukt.fetch(&layout.reference());
    fs::write(rukt.layer_rootfs(&top.diff_id).join("etc/intruder"), b"x").unwrap();
    let out = rukt.fail(&["image", "verify", &id]);
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(
        said.contains("etc/intruder") || said.contains(hex(&top.diff_id)),
        "verify should name the added file or its layer:\n{out}"
    );

    // A stored blob modified.
    let rukt = Rukt::new();
    let id = rukt.fetch(&layout.reference());
    let blob = rukt.blob_path(&top.digest);
    let mut bytes = fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&blob, &bytes).unwrap();
    let out = rukt.fail(&["image", "verify", &id]);
    assert!(
        format!("{}{}", out.stdout, out.stderr).contains(&top.digest),
        "verify should name the corrupt blob {}:\n{out}",
        top.digest
    );
}

#[test]
fn extract_refuses_a_non_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(&tmp.path().join("layout"), "x", &[small_image("extract")]);
    let rukt = Rukt::new();
    let id = rukt.fetch(&layout.reference());
    let target = tmp.path().join("busy");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("precious"), b"keep me").unwrap();
    rukt.fail(&["image", "extract", &id, target.to_str().unwrap()]);
    assert_eq!(fs::read(target.join("precious")).unwrap(), b"keep me");
    assert_eq!(
        fs::read_dir(&target).unwrap().count(),
        1,
        "extract wrote into a non-empty dir"
    );

    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    rukt.ok(&["image", "extract", &id, empty.to_str().unwrap()]);
    assert_eq!(
        fs::read_to_string(empty.join("etc/extract")).unwrap(),
        "extract\n"
    );
}

#[test]
fn unknown_images_are_clean_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "x", &[small_image("known")]);
    let rukt = Rukt::new();
    rukt.fetch(&layout.reference());
    let before = rukt.snapshot();
    let unknown = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let dir = tmp.path().join("out");
    for args in [
        vec!["image", "inspect", unknown],
        vec!["image", "cat-manifest", unknown],
        vec!["image", "rm", unknown],
        vec!["image", "verify", unknown],
        vec![
            "image",
            "export",
            unknown,
            "oci-archive:/nonexistent/never.tar",
        ],
        vec!["image", "extract", unknown, dir.to_str().unwrap()],
        vec![
            "fetch",
            "--pull-policy=never",
            "oci:/nonexistent/layout:tag",
        ],
        vec!["fetch", "oci:/nonexistent/layout:tag"],
    ] {
        let out = rukt.run(&args);
        assert_clean_failure(&out);
    }
    assert!(!dir.exists(), "a failed extract created {}", dir.display());
    assert_store_unchanged(&before, &rukt.snapshot(), "failed commands");
}
