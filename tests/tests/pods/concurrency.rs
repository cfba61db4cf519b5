//! Many pods at once in one store while `gc` and `image gc` run in loops: every run returns
//! its own exit code, no pod is left half-way, the images stay intact, nothing stays mounted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rukt_tests::pods::{PodStore, shell_code};
use rukt_tests::rukt::Output;
use serde_json::Value;

/// Pods started at once.
const PARALLEL: usize = 20;
/// Pods each of the parallel starters runs one after the other (a single round is over
/// before the gc loops have run a few times).
const ROUNDS: usize = 5;

/// Pod `i`'s exit code: distinct, even (never 137 or 143, a kill's), never 0 or rukt's 254.
fn code_of(i: usize) -> i32 {
    let code = 2 + 2 * i as i32;
    assert!(code < 254, "too many pods for distinct exit codes");
    code
}

#[test]
fn parallel_runs_with_gc_and_image_gc_looping() {
    let pods = PodStore::new();
    let tmp = tempfile::tempdir().unwrap();
    let done = AtomicBool::new(false);
    let start = Instant::now();

    let (runs, gcs, image_gcs, lists) = std::thread::scope(|s| {
        let gc = s.spawn(|| loop_until(&done, || pods.run(&["gc", "--grace-period=0s"])));
        let gc2 = s.spawn(|| loop_until(&done, || pods.run(&["gc", "--grace-period=0s"])));
        let image_gc = s.spawn(|| loop_until(&done, || pods.run(&["image", "gc"])));
        let list = s.spawn(|| loop_until(&done, || pods.run(&["list", "--format", "json"])));
        let starters: Vec<_> = (0..PARALLEL)
            .map(|t| {
                let pods = &pods;
                let dir = tmp.path();
                s.spawn(move || {
                    (0..ROUNDS)
                        .map(|r| {
                            let i = r * PARALLEL + t;
                            let uuid_file = dir.join(format!("uuid-{i}"));
                            let uuid_arg = uuid_file.to_str().unwrap();
                            // Some pods live a little, so that gc meets running pods too.
                            let script = format!("sleep 0.{}; exit {}", i % 3, code_of(i));
                            let out = pods.run(&pods.pod_args(
                                "run",
                                &["--uuid-file-save", uuid_arg],
                                &["--name", "worker", "--exec", "/bin/sh", "--", "-c", &script],
                            ));
                            let uuid = std::fs::read_to_string(&uuid_file)
                                .map(|u| u.trim().to_owned())
                                .unwrap_or_default();
                            (i, out, uuid)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut runs: Vec<(usize, Output, String)> = starters
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        runs.sort_by_key(|(i, _, _)| *i);
        let runs: Vec<(Output, String)> = runs.into_iter().map(|(_, o, u)| (o, u)).collect();
        done.store(true, Ordering::SeqCst);
        (
            runs,
            [gc.join().unwrap(), gc2.join().unwrap()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
            image_gc.join().unwrap(),
            list.join().unwrap(),
        )
    });
    rukt_tests::note(&format!(
        "{} pods, {PARALLEL} at a time, with {} gc, {} image gc and {} list runs in {:?}",
        runs.len(),
        gcs.len(),
        image_gcs.len(),
        lists.len(),
        start.elapsed()
    ));

    for (i, (out, uuid)) in runs.iter().enumerate() {
        assert_eq!(
            shell_code(out.status),
            code_of(i),
            "run {i} returned another code:\n{out}"
        );
        assert_eq!(uuid.len(), 36, "run {i} saved no UUID:\n{out}");
    }

    let list = pods.list();
    for (i, (_, uuid)) in runs.iter().enumerate() {
        let Some(rec) = list.iter().find(|r| r["uuid"] == uuid.as_str()) else {
            continue; // removed by gc: fine
        };
        assert!(
            rec["state"] == "exited" || rec["state"] == "exited-garbage",
            "pod {i} left in state {}: {rec:#}",
            rec["state"]
        );
        // fly records exit codes just after the pod's lock is released: wait for them.
        let st = pods.wait_exited(uuid);
        assert_eq!(
            st.get("app-worker").map(String::as_str),
            Some(code_of(i).to_string().as_str()),
            "pod {i}: {st:?}"
        );
    }
    let strays: Vec<_> = list
        .iter()
        .filter(|r| !runs.iter().any(|(_, u)| r["uuid"] == u.as_str()))
        .collect();
    assert!(strays.is_empty(), "pods nobody asked for: {strays:#?}");

    pods.ok(&["image", "verify"]);
    pods.ok(&["gc", "--grace-period=0s"]);
    assert!(pods.list().is_empty(), "{:#?}", pods.list());
    assert!(pods.pod_dirs().is_empty(), "{:?}", pods.pod_dirs());
    pods.assert_no_mounts("after the final gc");
    // The image is still usable.
    let out = pods.sh("after", "exit 0");
    assert!(out.success(), "{out}");

    // Last, so that the checks above run whatever happened here: gc, image gc and list
    // never fail because pods come and go around them.
    let failed: Vec<String> = gcs
        .iter()
        .chain(&image_gcs)
        .chain(&lists)
        .filter(|o| !o.success())
        .map(ToString::to_string)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} gc/image gc/list runs failed while pods ran, e.g.:\n{}",
        failed.len(),
        gcs.len() + image_gcs.len() + lists.len(),
        failed[0]
    );
}

/// Runs `f` again and again until `done`, at least once; returns every output.
fn loop_until(done: &AtomicBool, f: impl Fn() -> Output) -> Vec<Output> {
    let mut outs = Vec::new();
    loop {
        outs.push(f());
        if done.load(Ordering::SeqCst) {
            return outs;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `gc` racing `prepare`: pods move `embryo/` → `prepare/` → `prepared/` while gc lists and
/// marks. Neither side may fail: a pod that moved away under gc is simply not gc's business
/// this round (docs/pod-lifecycle.md), and gc must never take a pod out from under the
/// `prepare` that is creating it.
#[test]
fn gc_racing_prepare() {
    const STARTERS: usize = 4;
    const EACH: usize = 40;
    let pods = PodStore::new();
    let done = AtomicBool::new(false);
    let (prepares, gcs) = std::thread::scope(|s| {
        let gcs: Vec<_> = (0..2)
            .map(|_| s.spawn(|| loop_until(&done, || pods.run(&["gc", "--mark-only"]))))
            .collect();
        let starters: Vec<_> = (0..STARTERS)
            .map(|_| {
                let pods = &pods;
                s.spawn(move || {
                    (0..EACH)
                        .map(|_| pods.run(&pods.pod_args("prepare", &[], &["--exec", "/bin/true"])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let prepares: Vec<Output> = starters
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        done.store(true, Ordering::SeqCst);
        let gcs: Vec<Output> = gcs.into_iter().flat_map(|h| h.join().unwrap()).collect();
        (prepares, gcs)
    });
    let failed_prepares: Vec<&Output> = prepares.iter().filter(|o| !o.success()).collect();
    let failed_gcs: Vec<&Output> = gcs.iter().filter(|o| !o.success()).collect();
    let list = pods.list();
    let not_prepared: Vec<&Value> = list.iter().filter(|r| r["state"] != "prepared").collect();
    assert!(
        failed_prepares.is_empty() && failed_gcs.is_empty() && not_prepared.is_empty(),
        "{} of {} prepares and {} of {} `gc --mark-only` failed; {} pods not prepared \
         afterwards.\nfirst failed prepare: {}\nfirst failed gc: {}\nnot prepared: {not_prepared:#?}",
        failed_prepares.len(),
        prepares.len(),
        failed_gcs.len(),
        gcs.len(),
        not_prepared.len(),
        failed_prepares
            .first()
            .map_or("-".into(), ToString::to_string),
        failed_gcs.first().map_or("-".into(), ToString::to_string),
    );
    assert_eq!(list.len(), STARTERS * EACH);
}
