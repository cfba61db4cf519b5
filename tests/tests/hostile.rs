//! Hostile images: path traversal, links out of the rootfs, bad whiteouts, device nodes, a
//! decompression bomb, and blobs tampered with or truncated on the registry. Each fetch must
//! fail cleanly, name the problem, write nothing outside the store and leave the store exactly
//! as it was (a good image fetched beforehand stays listed and intact).

use rukt_tests::digest::sha256;
use rukt_tests::fixtures::{tiny_image, unique};
use rukt_tests::hostile::{Hostile, gzip_bomb};
use rukt_tests::image::{Compression, Entry, ImageSpec, Layer, write_layout};
use rukt_tests::push::push;
use rukt_tests::registry::Registry;
use rukt_tests::rukt::{Output, Rukt, assert_store_unchanged};

/// A store holding one good image, and what it looked like before the hostile fetch.
struct Victim {
    rukt: Rukt,
    good: String,
    snapshot: rukt_tests::tree::Tree,
    list: Vec<serde_json::Value>,
    _dir: tempfile::TempDir,
}

impl Victim {
    fn new() -> Victim {
        let dir = tempfile::tempdir().unwrap();
        let layout = write_layout(dir.path(), "good", &[tiny_image("good")]);
        let rukt = Rukt::new();
        let good = rukt.fetch(&layout.reference());
        let snapshot = rukt.snapshot();
        let list = rukt.list();
        Victim {
            rukt,
            good,
            snapshot,
            list,
            _dir: dir,
        }
    }

    /// Fetches `args` (the fetch must fail cleanly) and checks the store is as it was.
    fn fetch_fails(&self, args: &[&str]) -> Output {
        let mut full = vec!["fetch"];
        full.extend_from_slice(args);
        let out = self.rukt.fail(&full);
        assert_store_unchanged(&self.snapshot, &self.rukt.snapshot(), "the failed fetch");
        assert_eq!(
            self.rukt.list(),
            self.list,
            "`image list` changed after a failed fetch"
        );
        self.rukt.ok(&["image", "verify", &self.good]);
        out
    }
}

/// An image whose first layer is harmless and new to the store (so a partly unpacked image
/// must be cleaned up) and whose second layer is `hostile`.
fn hostile_image(marker: &str, hostile: Layer) -> ImageSpec {
    let base = Layer::new(
        Compression::Gzip,
        vec![
            Entry::dir("etc"),
            Entry::file("etc/base", format!("{marker}\n")),
        ],
    );
    ImageSpec::new(vec![base, hostile])
}

fn assert_mentions(out: &Output, any_of: &[String]) {
    assert!(
        any_of.iter().any(|s| out.stderr.contains(s.as_str())),
        "the error should name the offending entry (one of {any_of:?}):\n{out}"
    );
}

fn refuse(case: Hostile) {
    // Short: it ends up in 100-byte tar name fields.
    let marker = unique("rukt-hostile");
    let guard = case.arm(&marker);
    let victim = Victim::new();
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(
        tmp.path(),
        "hostile",
        &[hostile_image(&marker, case.layer(&marker))],
    );
    let out = victim.fetch_fails(&[&layout.reference()]);
    assert_mentions(&out, &case.offending(&marker));
    guard.check();
}

#[test]
fn dot_dot_path() {
    refuse(Hostile::DotDot);
}

#[test]
fn absolute_path() {
    refuse(Hostile::Absolute);
}

#[test]
fn write_through_symlink_to_root() {
    refuse(Hostile::SymlinkToRoot);
}

#[test]
fn write_through_symlink_upwards() {
    refuse(Hostile::SymlinkUp);
}

#[test]
fn hardlink_upwards() {
    refuse(Hostile::HardlinkUp);
}

#[test]
fn hardlink_absolute() {
    refuse(Hostile::HardlinkAbsolute);
}

#[test]
fn write_through_hardlink() {
    refuse(Hostile::HardlinkWriteThrough);
}

#[test]
fn bare_whiteout() {
    refuse(Hostile::BareWhiteout);
}

/// A device node in an image would reach a host device under engines without a device
/// cgroup (fly). rukt does not create it: the fetch succeeds with a warning naming the entry,
/// and neither the stored layer nor the extracted rootfs holds the node.
#[test]
fn device_node_is_not_created() {
    let marker = unique("rukt-hostile");
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(
        tmp.path(),
        "device",
        &[hostile_image(&marker, Hostile::CharDevice.layer(&marker))],
    );
    let rukt = Rukt::new();
    let out = rukt.run(&["fetch", &layout.reference()]);
    assert!(
        out.status.success(),
        "fetch of an image with a device node failed:\n{out}"
    );
    assert!(
        out.stderr.contains("evil-null") && out.stderr.contains("device node"),
        "the warning should name the skipped device node:\n{out}"
    );
    let id = out.stdout.trim().to_string();
    let root = tmp.path().join("rootfs");
    rukt.ok(&["image", "extract", &id, root.to_str().unwrap()]);
    assert!(
        root.join("etc/base").is_file(),
        "the harmless layer is missing"
    );
    assert!(
        std::fs::symlink_metadata(root.join("evil-null")).is_err(),
        "the device node was created"
    );
    rukt.ok(&["image", "verify", &id]);
}

#[test]
fn decompression_bomb() {
    const LIMIT: u64 = 1 << 20;
    let victim = Victim::new();
    let tmp = tempfile::tempdir().unwrap();
    let marker = unique("rukt-bomb");
    let bomb = gzip_bomb(64 << 20);
    let bomb_digest = bomb.blob().digest.clone();
    assert!(
        bomb.blob().size() < LIMIT,
        "the bomb must be small on the wire"
    );
    let layout = write_layout(tmp.path(), "bomb", &[hostile_image(&marker, bomb)]);
    let limit = LIMIT.to_string();
    let out = victim.fetch_fails(&["--max-layer-size", &limit, &layout.reference()]);
    let lower = out.stderr.to_lowercase();
    assert!(
        out.stderr.contains(&bomb_digest)
            || out.stderr.contains(&limit)
            || lower.contains("size")
            || lower.contains("limit"),
        "the error should say the layer exceeds --max-layer-size:\n{out}"
    );
}

/// Pushes an image whose last layer is `victim_layer` and returns (registry, reference).
fn pushed(victim_layer: &Layer, repo: &str) -> (Registry, String, tempfile::TempDir) {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let marker = unique(repo);
    let layout = write_layout(
        tmp.path(),
        "latest",
        &[hostile_image(&marker, victim_layer.clone())],
    );
    push(&layout.dir, "latest", &registry, &format!("{repo}:latest"));
    let reference = registry.reference(&format!("{repo}:latest"));
    (registry, reference, tmp)
}

#[test]
fn tampered_blob_on_the_registry() {
    // Uncompressed, so the tampered blob is still a valid tar and only the digest can tell.
    let marker = unique("tampered");
    let payload = format!("{marker}:{}", "A".repeat(4096));
    let layer = Layer::new(Compression::None, vec![Entry::file("payload", payload)]);
    let expected = layer.blob().digest.clone();
    let (registry, reference, _tmp) = pushed(&layer, "tampered");

    let file = registry.blob_file(&expected);
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes
        .windows(8)
        .position(|w| w == b"AAAAAAAA")
        .expect("payload in the blob");
    bytes[at + 4] = b'B';
    std::fs::write(&file, &bytes).unwrap();
    let actual = sha256(&bytes);

    let victim = Victim::new();
    let out = victim.fetch_fails(&[&reference]);
    assert!(
        out.stderr.contains("tampered:latest"),
        "the error should name the image reference:\n{out}"
    );
    assert!(
        out.stderr.contains(&expected),
        "the error should name the expected digest {expected}:\n{out}"
    );
    assert!(
        out.stderr.contains(&actual),
        "the error should name the actual digest {actual}:\n{out}"
    );
}

#[test]
fn truncated_blob_on_the_registry() {
    let marker = unique("truncated");
    let layer = Layer::new(
        Compression::Gzip,
        vec![
            Entry::file("payload", rukt_tests::image::random_bytes(256 << 10, 99)),
            Entry::file("marker", marker),
        ],
    );
    let expected = layer.blob().digest.clone();
    let (registry, reference, _tmp) = pushed(&layer, "truncated");

    let file = registry.blob_file(&expected);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() / 2]).unwrap();

    let victim = Victim::new();
    let out = victim.fetch_fails(&[&reference]);
    assert!(
        out.stderr.contains("truncated:latest"),
        "the error should name the image reference:\n{out}"
    );
    assert!(
        out.stderr.contains(&expected),
        "the error should name the blob {expected}:\n{out}"
    );
}

/// `rukt run` fetches through the same pipeline, and a refused image leaves
/// the store as it was there too (no pod directory, no half image).
#[test]
fn run_of_a_hostile_image_leaves_the_store_as_it_was() {
    let marker = unique("rukt-hostile");
    let guard = Hostile::DotDot.arm(&marker);
    let victim = Victim::new();
    let tmp = tempfile::tempdir().unwrap();
    let layout = write_layout(
        tmp.path(),
        "hostile",
        &[hostile_image(&marker, Hostile::DotDot.layer(&marker))],
    );
    let out = victim
        .rukt
        .fail(&["run", "--stage1=fly", &layout.reference()]);
    assert_mentions(&out, &Hostile::DotDot.offending(&marker));
    let mut after = victim.rukt.snapshot();
    // `run` creates the (empty) pod state directories and caches the stage1's
    // interface version; nothing else may change.
    after.retain(|p, _| !p.starts_with("pods") && !p.starts_with("cache"));
    assert_store_unchanged(&victim.snapshot, &after, "a refused `rukt run`");
    for state in std::fs::read_dir(victim.rukt.store().join("pods")).unwrap() {
        let state = state.unwrap().path();
        assert_eq!(
            std::fs::read_dir(&state).unwrap().count(),
            0,
            "a pod was left in {}",
            state.display()
        );
    }
    guard.check();
}
