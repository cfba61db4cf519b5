//! Interoperability with umoci, the reference unpacker: the same image unpacked by both must
//! give the same tree, and an image rukt exports must be one umoci can unpack.

use rukt_tests::fixtures::rich_layers;
use rukt_tests::image::{ImageSpec, write_layout};
use rukt_tests::rukt::Rukt;
use rukt_tests::tree::{self, Attr};
use rukt_tests::{note, umoci};

#[test]
fn extract_matches_umoci_unpack() {
    let tmp = tempfile::tempdir().unwrap();
    // umoci 0.4.7 does not read zstd layers: the gzip variant of the rich image.
    let layout = write_layout(
        &tmp.path().join("layout"),
        "rich",
        &[ImageSpec::new(rich_layers(false))],
    );
    let umoci_rootfs = umoci::unpack(&layout.dir, "rich", &tmp.path().join("bundle"));
    let rukt = Rukt::new();
    let id = rukt.fetch(&layout.reference());
    let rukt_rootfs = tmp.path().join("rukt");
    rukt.ok(&["image", "extract", &id, rukt_rootfs.to_str().unwrap()]);

    let by_umoci = tree::snapshot(&umoci_rootfs);
    let by_rukt = tree::snapshot(&rukt_rootfs);
    assert!(
        by_umoci.len() > 100,
        "umoci unpacked only {} entries",
        by_umoci.len()
    );
    // Contents, types, modes, ownership, link targets, device numbers and hard links must agree.
    let diff = tree::diff_ignoring(&by_umoci, &by_rukt, &[Attr::Mtime]);
    assert!(
        diff.is_empty(),
        "rukt extract differs from umoci unpack (- umoci, + rukt):\n{}",
        diff.join("\n")
    );
    // mtimes are reported, not required (regular files' mtimes are checked in the fetch tests).
    let attrs = tree::differing_attrs(&by_umoci, &by_rukt);
    if !attrs.is_empty() {
        note(&format!(
            "rukt extract and umoci unpack differ in {attrs:?}:\n{}",
            tree::diff(&by_umoci, &by_rukt).join("\n")
        ));
    }
}

#[test]
fn exported_layout_unpacks_with_umoci() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = ImageSpec::new(rich_layers(false));
    let layout = write_layout(
        &tmp.path().join("layout"),
        "rich",
        std::slice::from_ref(&spec),
    );
    let rukt = Rukt::new();
    let id = rukt.fetch(&layout.reference());
    let exported = tmp.path().join("exported");
    rukt.ok(&[
        "image",
        "export",
        &id,
        &format!("oci:{}:out", exported.display()),
    ]);
    let rootfs = umoci::unpack(&exported, "out", &tmp.path().join("bundle"));
    let diff = tree::diff(
        &rukt_tests::model::flatten(&spec.layers),
        &tree::snapshot(&rootfs),
    );
    assert!(
        diff.is_empty(),
        "umoci unpack of the exported image (- expected, + umoci):\n{}",
        diff.join("\n")
    );
}
