//! Crashes and concurrency: a fetch killed with SIGKILL leaves nothing visible and nothing
//! that blocks the next fetch; parallel fetches into one store all succeed and download each
//! shared blob once.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::{Duration, Instant};

use rukt_tests::image::{ImageSpec, random_layer, write_layout};
use rukt_tests::push::push;
use rukt_tests::registry::Registry;
use rukt_tests::rukt::Rukt;

const MB: usize = 1 << 20;

#[test]
fn sigkill_during_fetch() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let spec = ImageSpec::new(vec![
        random_layer("big/one", 30 * MB, 1),
        random_layer("big/two", 30 * MB, 2),
        random_layer("big/three", 30 * MB, 3),
    ]);
    let layout = write_layout(tmp.path(), "big", &[spec]);
    push(&layout.dir, "big", &registry, "big:latest");
    let reference = registry.reference("big:latest");
    let id = layout.image().id();

    let rukt = Rukt::new();
    let mut child = rukt.spawn(&["fetch", &reference]);
    // Kill it mid-transfer: as soon as a megabyte has landed in tmp/, at the latest after 200 ms.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(200)
        && bytes_under(&rukt.store().join("tmp")) < MB as u64
    {
        std::thread::sleep(Duration::from_millis(2));
    }
    if let Some(status) = child.try_wait().unwrap() {
        panic!(
            "the fetch ended ({status}) within {:?}, before it could be killed: make the image bigger",
            started.elapsed()
        );
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(9), "{status}");

    assert!(
        !rukt.list_ids().iter().any(|i| i == id),
        "a killed fetch left the image listed"
    );
    assert_eq!(rukt.fetch(&reference), id, "fetching again after the crash");
    rukt.ok(&["image", "gc"]);
    let tmp_dir = rukt.store().join("tmp");
    let leftovers: Vec<_> = match std::fs::read_dir(&tmp_dir) {
        Ok(dir) => dir.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    assert!(
        leftovers.is_empty(),
        "gc left in-flight data behind: {leftovers:?}"
    );
    rukt.ok(&["image", "verify", id]);
}

/// Bytes in the regular files under `dir` (0 if it does not exist).
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => bytes_under(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[test]
fn parallel_fetches_share_downloads() {
    let registry = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let base = random_layer("base/data", 16 * MB, 10);
    let mut layouts = Vec::new();
    for (i, tag) in ["a", "b", "c"].into_iter().enumerate() {
        let top = random_layer(&format!("top/{tag}"), 2 * MB, 20 + i as u64);
        let layout = write_layout(tmp.path(), tag, &[ImageSpec::new(vec![base.clone(), top])]);
        push(tmp.path(), tag, &registry, &format!("shared:{tag}"));
        layouts.push(layout);
    }
    let before = registry.requests().len();

    let rukt = Rukt::new();
    let outputs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|n| {
                let reference = registry.reference(&format!("shared:{}", ["a", "b", "c"][n % 3]));
                let rukt = &rukt;
                s.spawn(move || rukt.run(&["fetch", &reference]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (n, out) in outputs.iter().enumerate() {
        assert!(out.success(), "parallel fetch {n} failed:\n{out}");
        assert_eq!(out.lines(), vec![layouts[n % 3].image().id()], "{out}");
    }

    let mut ids: Vec<String> = layouts.iter().map(|l| l.image().id().to_owned()).collect();
    ids.sort();
    assert_eq!(rukt.list_ids(), ids);
    for id in &ids {
        rukt.ok(&["image", "verify", id]);
    }
    let log = registry.requests()[before..].to_vec();
    let mut digests = vec![base.blob().digest.clone()];
    digests.extend(layouts.iter().map(|l| l.image().layers[1].digest.clone()));
    for digest in digests {
        let gets: Vec<_> = log
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with(&format!("/blobs/{digest}")))
            .collect();
        assert!(
            gets.len() == 1 && gets[0].status == 200,
            "layer {digest} must be downloaded exactly once by 6 parallel fetches, got {gets:?}"
        );
    }
}
