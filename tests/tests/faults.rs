//! A bad network between rukt and the registry, played by a fault-injecting proxy in front
//! of a real registry: connections dropped or stalled mid-blob resume with a `Range` request
//! (the proxy counts the bytes it served), a registry that ignores ranges gets the blob again
//! from zero, 503 and 429 (`Retry-After`) are retried, a resumed part that differs is caught
//! by the digest check, and a fetch that cannot finish fails in bounded time with a clear
//! error and the store as it was.

use std::time::{Duration, Instant};

use rukt_tests::faults::FaultyProxy;
use rukt_tests::image::{ImageSpec, random_layer, write_layout};
use rukt_tests::push::push;
use rukt_tests::registry::Registry;
use rukt_tests::rukt::Rukt;

/// Size of the layer the faults hit, and the byte they happen at.
const LAYER: usize = 1 << 20;
const HALF: u64 = (LAYER / 2) as u64;

struct Setup {
    _registry: Registry,
    proxy: FaultyProxy,
    _tmp: tempfile::TempDir,
    layer: String,
    layer_size: u64,
    id: String,
}

/// A registry holding a one-layer image of about 1 MiB, behind the proxy in `mode` at `at`.
fn setup(mode: &str, at: u64, seed: u64) -> Setup {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let spec = ImageSpec::new(vec![random_layer("data/blob", LAYER, seed)]);
    let layout = write_layout(tmp.path(), "v1", std::slice::from_ref(&spec));
    push(&layout.dir, "v1", &registry, "faults/app:v1");
    let image = layout.image();
    let layer = image.layers[0].digest.clone();
    let layer_size = image.layers[0].bytes.len() as u64;
    let id = image.id().to_owned();
    let proxy = FaultyProxy::start(&registry, mode, at);
    Setup {
        _registry: registry,
        proxy,
        _tmp: tmp,
        layer,
        layer_size,
        id,
    }
}

fn fetch_ok(s: &Setup, flags: &[&str]) -> (Rukt, Duration) {
    let rukt = Rukt::new();
    let start = Instant::now();
    let id = rukt.fetch_with(flags, &s.proxy.reference("faults/app:v1"));
    let took = start.elapsed();
    assert_eq!(id, s.id);
    rukt.ok(&["image", "verify", &id]);
    (rukt, took)
}

/// Asserts the store holds no image (and creates it, when new).
fn assert_nothing_listed(rukt: &Rukt) {
    assert!(
        rukt.list().is_empty(),
        "a failed fetch left an image listed"
    );
}

/// Asserts the layer took two requests, the second asking for the rest from the fault on,
/// and `served` body bytes in all.
fn assert_resumed_at_half(s: &Setup, served: u64) {
    assert_eq!(
        s.proxy.ranges(&s.layer),
        vec![None, Some(format!("bytes={HALF}-"))],
        "the second request must ask for the rest from where the first stopped"
    );
    assert_eq!(s.proxy.bytes_served(&s.layer), served, "body bytes served");
}

/// Runs a fetch that must fail cleanly on a fresh store, and asserts it left the store as it
/// was; returns its output and how long it took.
fn fetch_fails(s: &Setup, flags: &[&str]) -> (rukt_tests::rukt::Output, Duration) {
    let rukt = Rukt::new();
    assert_nothing_listed(&rukt);
    let before = rukt.snapshot();
    let reference = s.proxy.reference("faults/app:v1");
    let mut args = vec!["fetch"];
    args.extend_from_slice(flags);
    args.push(&reference);
    let start = Instant::now();
    let out = rukt.fail(&args);
    let took = start.elapsed();
    assert_nothing_listed(&rukt);
    rukt_tests::rukt::assert_store_unchanged(&before, &rukt.snapshot(), "a failed fetch");
    (out, took)
}

#[test]
fn dropped_connection_resumes_with_a_range() {
    let s = setup("drop", HALF, 1);
    fetch_ok(&s, &["--stall-timeout=2s"]);
    // A resumed blob is served once in total.
    assert_resumed_at_half(&s, s.layer_size);
}

#[test]
fn stalled_transfer_resumes_after_the_stall_timeout() {
    let s = setup("stall", HALF, 2);
    let (_, took) = fetch_ok(&s, &["--stall-timeout=1s"]);
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert_resumed_at_half(&s, s.layer_size);
}

#[test]
fn busy_registry_503_is_retried() {
    let s = setup("503", HALF, 3);
    fetch_ok(&s, &["--stall-timeout=2s"]);
    assert_eq!(s.proxy.ranges(&s.layer), vec![None, None]);
    assert_eq!(s.proxy.bytes_served(&s.layer), s.layer_size);
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    let s = setup("429", HALF, 4);
    let (_, took) = fetch_ok(&s, &["--stall-timeout=2s"]);
    assert!(
        took >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured ({took:?})"
    );
    assert_eq!(s.proxy.ranges(&s.layer).len(), 2);
}

#[test]
fn registry_ignoring_ranges_gets_the_blob_again_from_zero() {
    let s = setup("norange", HALF, 5);
    fetch_ok(&s, &["--stall-timeout=2s"]);
    // The half before the drop, then the whole blob.
    assert_resumed_at_half(&s, HALF + s.layer_size);
}

#[test]
fn different_resumed_part_fails_the_digest_check() {
    let s = setup("corrupt", HALF, 6);
    let (out, _) = fetch_fails(&s, &["--stall-timeout=2s"]);
    assert!(out.stderr.contains(&s.layer), "{out}");
    assert!(out.stderr.contains("digest"), "{out}");
}

#[test]
fn registry_that_keeps_stalling_fails_in_bounded_time() {
    let s = setup("stallalways", 4096, 7);
    let (out, took) = fetch_fails(&s, &["--stall-timeout=1s"]);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert!(out.stderr.contains(&s.layer), "{out}");
    assert!(out.stderr.contains(&s.proxy.host()), "{out}");
    assert!(out.stderr.contains("--stall-timeout"), "{out}");
    assert_eq!(
        s.proxy.ranges(&s.layer).len(),
        6,
        "one try and five retries"
    );
}

#[test]
fn timeout_bounds_the_whole_fetch() {
    let s = setup("stall", HALF, 8);
    let (out, took) = fetch_fails(&s, &["--stall-timeout=30s", "--timeout=2s"]);
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(out.stderr.contains("--timeout"), "{out}");
}
