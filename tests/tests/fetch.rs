//! Fetching from a registry: the rich multi-layer image end to end (list, extract, verify,
//! cat-manifest), pull policies, and platform selection from a multi-arch index.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rukt_tests::fixtures::{deep_dir, rich_image, small_image};
use rukt_tests::image::{Compression, Entry, ImageSpec, Layer, busybox_layer, write_layout};
use rukt_tests::model;
use rukt_tests::push::push;
use rukt_tests::registry::Registry;
use rukt_tests::rukt::Rukt;
use rukt_tests::tree::{self, Attr};

/// The architecture rukt picks by default: the host's, in OCI spelling.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("the multi-arch test expects an amd64 or arm64 host, not {other}"),
    }
}

#[test]
fn rich_image_from_registry() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let spec = rich_image();
    let layout = write_layout(
        &tmp.path().join("layout"),
        "latest",
        std::slice::from_ref(&spec),
    );
    push(&layout.dir, "latest", &registry, "rich:latest");
    let image = layout.image();
    let reference = registry.reference("rich:latest");
    let rukt = Rukt::new();

    let id = rukt.fetch(&reference);
    assert_eq!(
        id,
        image.id(),
        "fetch must print the config digest as the image ID"
    );
    for layer in &image.layers {
        let gets = registry.blob_gets(&layer.digest);
        assert_eq!(
            gets.len(),
            1,
            "layer {} downloaded {} times",
            layer.digest,
            gets.len()
        );
    }

    // What `image list` says about it.
    let record = rukt.record(&id);
    let name = record["name"].as_str().expect("record name");
    assert!(
        name.contains("rich"),
        "unexpected name {name:?} in {record}"
    );
    assert_eq!(
        record["manifest"],
        image.manifest_digest.as_str(),
        "{record}"
    );
    assert!(!record["created"].is_null(), "no created in {record}");
    assert!(
        record.get("last_used").is_some(),
        "no last_used in {record}"
    );
    let expected = model::flatten(&spec.layers);
    let size = record["size"].as_u64().expect("numeric size");
    assert!(
        size >= tree::file_bytes(&expected),
        "size {size} is less than the {} bytes of files in the image",
        tree::file_bytes(&expected)
    );
    let table = rukt.ok(&["image", "list"]);
    let header = table.lines().next().unwrap_or_default();
    for column in ["NAME", "ID", "SIZE", "CREATED", "LAST USED"] {
        assert!(header.contains(column), "no {column} column in:\n{table}");
    }
    let short = &image.id()["sha256:".len().."sha256:".len() + 12];
    assert!(
        table
            .lines()
            .skip(1)
            .any(|l| l.contains(name) && l.contains(short)),
        "no row with {name} and {short} in:\n{table}"
    );
    let bare = rukt.ok(&["image", "list", "--no-legend"]);
    assert!(
        !bare.contains("LAST USED"),
        "--no-legend printed a header:\n{bare}"
    );
    assert_eq!(
        bare.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{bare}"
    );

    // The flattened rootfs as a pod sees it.
    let rootfs = tmp.path().join("rootfs");
    rukt.ok(&["image", "extract", &id, rootfs.to_str().unwrap()]);
    let actual = tree::snapshot(&rootfs);
    let diff = tree::diff_ignoring(&expected, &actual, &[Attr::DirMtime, Attr::SymlinkMtime]);
    assert!(
        diff.is_empty(),
        "extracted rootfs differs from the image (- expected, + extracted):\n{}",
        diff.join("\n")
    );
    check_rich_rootfs(&rootfs);

    rukt.ok(&["image", "verify", &id]);
    let manifest = rukt.ok(&["image", "cat-manifest", &id]);
    assert_eq!(
        manifest,
        String::from_utf8_lossy(&image.manifest),
        "cat-manifest must print the manifest exactly as fetched"
    );

    // Fetching again, by default, downloads nothing.
    let blob_gets = registry.all_blob_gets();
    assert_eq!(rukt.fetch(&reference), id);
    assert_eq!(
        registry.all_blob_gets(),
        blob_gets,
        "a second fetch downloaded blobs again"
    );

    // --pull-policy=never answers from the store without a single request.
    let requests = registry.requests().len();
    assert_eq!(rukt.fetch_with(&["--pull-policy=never"], &reference), id);
    assert_eq!(
        registry.requests().len(),
        requests,
        "--pull-policy=never contacted the registry"
    );
}

/// The facts about the rich image a user would check by hand.
fn check_rich_rootfs(rootfs: &Path) {
    let p = |rel: &str| rootfs.join(rel);
    let lstat = |rel: &str| fs::symlink_metadata(p(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    for gone in [
        "data/remove-me",
        "data/remove-dir",
        "data/opaque/old1",
        "data/opaque/old2",
        "data/opaque/olddir",
        "bin/ls",
    ] {
        assert!(
            fs::symlink_metadata(p(gone)).is_err(),
            "{gone} was whited out but exists"
        );
    }
    for name in fs::read_dir(rootfs.join("data")).unwrap() {
        let name = name.unwrap().file_name();
        assert!(
            !name.to_string_lossy().starts_with(".wh."),
            "whiteout file {name:?} left in the rootfs"
        );
    }
    assert_eq!(
        fs::read_to_string(p("data/opaque/new")).unwrap(),
        "new in layer 2\n"
    );
    assert_eq!(
        fs::read_to_string(p("data/changed")).unwrap(),
        "version 2\n"
    );
    assert_eq!(lstat("data/changed").mode() & 0o7777, 0o600);
    assert_eq!(
        lstat("data").mode() & 0o7777,
        0o711,
        "upper layer's directory mode"
    );
    assert!(lstat("data/replaced-by-file").is_file());
    assert!(lstat("data/file-to-dir").is_dir());
    assert_eq!(
        lstat("usr/local/bin/suid").mode() & 0o7777,
        0o4755,
        "setuid bit lost"
    );
    assert_eq!(
        lstat("usr/local/bin/sgid").mode() & 0o7777,
        0o2755,
        "setgid bit lost"
    );
    assert_eq!(
        lstat("data/sticky").mode() & 0o7777,
        0o1777,
        "sticky bit lost"
    );
    assert_eq!(
        (
            lstat("home/user/notes").uid(),
            lstat("home/user/notes").gid()
        ),
        (1000, 1000)
    );
    assert_eq!(
        lstat("data/hl-a").ino(),
        lstat("data/hl-b").ino(),
        "hard links split"
    );
    assert_eq!(
        lstat("data/hl-a").ino(),
        lstat("data/hl-c").ino(),
        "hard links split"
    );
    let leaf = format!("{}/leaf", deep_dir());
    assert_eq!(fs::read_to_string(p(&leaf)).unwrap(), "at the bottom\n");
    assert_eq!(lstat(&leaf).ino(), lstat("data/deep-hardlink").ino());
    assert_eq!(fs::read_link(p("bin/cat")).unwrap(), Path::new("busybox"));
    assert_eq!(
        fs::read_link(p("data/abs-link")).unwrap(),
        Path::new("/etc/passwd")
    );
    assert!(
        lstat("data/fifo").file_type().is_fifo(),
        "data/fifo is not a fifo"
    );
    let busybox = fs::read("/bin/busybox").unwrap();
    assert!(
        fs::read(p("bin/busybox")).unwrap() == busybox,
        "bin/busybox corrupted"
    );
    assert_eq!(lstat("bin/busybox").mode() & 0o777, 0o755);
}

#[test]
fn pull_policy_never_refuses_an_image_not_in_the_store() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(tmp.path(), "latest", &[small_image("never")]);
    push(&layout.dir, "latest", &registry, "never:latest");
    let rukt = Rukt::new();
    let requests = registry.requests().len();
    let out = rukt.fail(&[
        "fetch",
        "--pull-policy=never",
        &registry.reference("never:latest"),
    ]);
    assert!(
        out.stderr.contains("never"),
        "the error should name the image:\n{out}"
    );
    assert_eq!(
        registry.requests().len(),
        requests,
        "--pull-policy=never contacted the registry"
    );
    assert!(rukt.list().is_empty(), "{:?}", rukt.list());
}

#[test]
fn pull_policies_new_and_update() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let first = write_layout(&tmp.path().join("a"), "latest", &[small_image("first")]);
    let second = write_layout(&tmp.path().join("b"), "latest", &[small_image("second")]);
    let reference = registry.reference("app:latest");
    let rukt = Rukt::new();

    push(&first.dir, "latest", &registry, "app:latest");
    assert_eq!(rukt.fetch(&reference), first.image().id());

    // The tag moves on.
    push(&second.dir, "latest", &registry, "app:latest");
    let blob_gets = registry.all_blob_gets();
    assert_eq!(
        rukt.fetch_with(&["--pull-policy=new"], &reference),
        first.image().id(),
        "--pull-policy=new must use the stored image"
    );
    assert_eq!(registry.all_blob_gets(), blob_gets);
    assert_eq!(
        rukt.fetch_with(&["--pull-policy=update"], &reference),
        second.image().id(),
        "--pull-policy=update must follow the tag"
    );
    // Only the new top layer and config are downloaded; busybox is shared.
    assert_eq!(registry.blob_gets(&busybox_layer().blob().digest).len(), 1);
    assert!(rukt.list_ids().contains(&second.image().id().to_owned()));
    rukt.ok(&["image", "verify", second.image().id()]);
}

fn arch_image(arch: &str) -> ImageSpec {
    ImageSpec::new(vec![
        busybox_layer(),
        Layer::new(
            Compression::Gzip,
            vec![
                Entry::dir("etc"),
                Entry::file("etc/arch", format!("{arch}\n")),
            ],
        ),
    ])
    .arch(arch, (arch == "arm64").then_some("v8"))
}

#[test]
fn multi_arch_index_selects_the_platform() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(
        tmp.path(),
        "multi",
        &[arch_image("amd64"), arch_image("arm64")],
    );
    push(&layout.dir, "multi", &registry, "multi:latest");
    let reference = registry.reference("multi:latest");

    for (flags, arch) in [
        (&[][..], host_arch()),
        (&["--arch", "arm64"][..], "arm64"),
        (&["--os", "linux", "--arch", "amd64"][..], "amd64"),
    ] {
        let rukt = Rukt::new();
        let expected = layout.image_for(arch);
        let id = rukt.fetch_with(flags, &reference);
        assert_eq!(id, expected.id(), "fetch {flags:?} picked the wrong image");
        let inspect = rukt.inspect(&id);
        assert_eq!(inspect["id"], id, "{inspect}");
        assert_eq!(inspect["config"]["architecture"], arch, "{inspect}");
        assert_eq!(inspect["config"]["os"], "linux", "{inspect}");
        assert_eq!(
            rukt.ok(&["image", "cat-manifest", &id]),
            String::from_utf8_lossy(&expected.manifest),
            "cat-manifest must print the platform's manifest"
        );
        let rootfs = tmp.path().join(format!("rootfs-{arch}-{}", flags.len()));
        rukt.ok(&["image", "extract", &id, rootfs.to_str().unwrap()]);
        assert_eq!(
            fs::read_to_string(rootfs.join("etc/arch")).unwrap(),
            format!("{arch}\n")
        );
        // The other platform's layer was not downloaded into this store.
        let other = layout
            .images
            .iter()
            .find(|i| i.architecture != arch)
            .unwrap();
        assert!(
            !rukt.blob_path(&other.layers[1].digest).exists(),
            "the {} layer was fetched too",
            other.architecture
        );
    }

    let rukt = Rukt::new();
    let out = rukt.fail(&["fetch", "--arch", "s390x", &reference]);
    assert!(
        out.stderr.contains("s390x"),
        "the error should name the missing platform:\n{out}"
    );
    assert!(rukt.list().is_empty());
}
