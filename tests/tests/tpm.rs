//! TPM event logging against a real software TPM: every test starts its own `swtpm socket`
//! (private state, free loopback ports, stopped by PID) and its own event log. Runs under
//! fly, nspawn and kvm produce the records with the right digests (checked with sha256sum
//! and the store's manifest digest); tpm2_pcrread shows the value the log replays to;
//! tampering gives MISMATCH and a record appended but not extended PENDING; `required`
//! with the TPM stopped leaves no pod; a quote by a tpm2-tools AK verifies; 20 concurrent
//! pods leave a log that replays.

use std::path::Path;
use std::process::Command;

use rukt_tests::pods::PodStore;
use rukt_tests::rukt::{Output, run_command};
use rukt_tests::swtpm::Swtpm;
use serde_json::Value;

/// `rukt ARGS...` in `pods`' store, measuring into `tpm` under `policy`.
fn rukt(pods: &PodStore, tpm: &Swtpm, policy: &str, args: &[&str]) -> Output {
    let mut cmd = pods.rukt().command(args);
    cmd.envs(tpm.env(policy));
    run_command(cmd)
}

/// The log's records (`rukt tpm log --format json`).
fn records(pods: &PodStore, tpm: &Swtpm) -> Vec<Value> {
    let out = rukt(pods, tpm, "off", &["tpm", "log", "--format", "json"]);
    assert!(out.success(), "{out}");
    serde_json::from_str::<Vec<Value>>(&out.stdout).expect("tpm log prints JSON")
}

fn events(recs: &[Value]) -> Vec<String> {
    recs.iter()
        .map(|r| r["content"]["event"].as_str().expect("event").to_owned())
        .collect()
}

/// `rukt run --stage1=fly IMAGE --exec /bin/true` under `policy`.
fn run_true(pods: &PodStore, tpm: &Swtpm, policy: &str) -> Output {
    rukt(
        pods,
        tpm,
        policy,
        &pods.pod_args("run", &[], &["--exec", "/bin/true"]),
    )
}

/// `rukt tpm verify`.
fn verify(pods: &PodStore, tpm: &Swtpm) -> Output {
    rukt(pods, tpm, "off", &["tpm", "verify"])
}

fn assert_verdict(out: &Output, verdict: &str, code: i32) {
    assert!(
        out.stdout.contains(&format!("verdict: {verdict}")) && out.code() == Some(code),
        "expected {verdict} (exit {code}):\n{out}"
    );
}

/// `sha256:` of a file by coreutils' sha256sum (not rukt's hashing).
fn sha256sum(path: &str) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    let text = String::from_utf8_lossy(&out.stdout);
    format!(
        "sha256:{}",
        text.split_whitespace().next().expect("a digest")
    )
}

/// Runs a pod whose app exits 3 under `stage1`, then `status` (measures the exits) and
/// `gc` (the removal), and checks every record and the replay.
fn measured_pod(pods: &PodStore, pod_flags: &[&str]) {
    let tpm = Swtpm::start();
    let uuid_file = tpm.dir().join("uuid");
    let mut flags = vec!["--uuid-file-save", uuid_file.to_str().expect("utf-8")];
    flags.extend_from_slice(pod_flags);
    let app = ["--name", "main", "--exec", "/bin/sh", "--", "-c", "exit 3"];
    let out = rukt(pods, &tpm, "required", &pods.pod_args("run", &flags, &app));
    assert_eq!(out.code(), Some(3), "{out}");
    let uuid = std::fs::read_to_string(&uuid_file).expect("uuid file");
    let uuid = uuid.trim();
    let manifest = rukt(pods, &tpm, "off", &["cat-manifest", uuid]).stdout;
    let manifest_bytes = manifest
        .strip_suffix('\n')
        .expect("cat-manifest adds a newline");
    let manifest_digest = rukt_tests::digest::sha256(manifest_bytes.as_bytes());
    let pod_manifest: Value = serde_json::from_str(manifest_bytes).expect("manifest JSON");
    let stage1 = pod_manifest["stage1"]["path"]
        .as_str()
        .expect("stage1 path")
        .to_owned();
    assert!(rukt(pods, &tpm, "required", &["status", uuid]).success());
    assert!(rukt(pods, &tpm, "required", &["gc", "--grace-period=0s"]).success());

    let recs = records(pods, &tpm);
    assert_eq!(
        events(&recs),
        [
            "log-start",
            "pod-prepared",
            "app-started",
            "app-exited",
            "pod-exited",
            "pod-gc"
        ],
        "{recs:#?}"
    );
    let image_manifest = pods.rukt().record(&pods.image_id)["manifest"].clone();
    let started = &recs[2]["content"];
    assert_eq!(started["pod"], uuid);
    assert_eq!(started["app"], "main");
    assert_eq!(started["image_digests"][0], image_manifest);
    assert_eq!(started["config_digests"][0], pods.image_id.as_str());
    assert_eq!(started["manifest_digest"], manifest_digest.as_str());
    assert_eq!(started["stage1"], stage1.as_str());
    assert_eq!(started["stage1_digest"], sha256sum(&stage1).as_str());
    // The entrypoint's argv after the binary, NUL-terminated: `run UUID`.
    let argv = format!("run\0{uuid}\0");
    assert_eq!(
        started["argv_digest"],
        rukt_tests::digest::sha256(argv.as_bytes()).as_str()
    );
    assert_eq!(recs[3]["content"]["exit_status"], 3);
    assert_eq!(recs[4]["content"]["exit_status"], 3);
    // --pod picks one pod's records by UUID prefix.
    let out = rukt(
        pods,
        &tpm,
        "off",
        &["tpm", "log", "--format", "json", "--pod", &uuid[..8]],
    );
    let mine: Vec<Value> = serde_json::from_str(&out.stdout).expect("tpm log prints JSON");
    assert_eq!(mine.len(), 5, "{out}");
    for r in &recs {
        assert_eq!(r["pcr"], 15);
        assert_eq!(r["content_type"], "rukt");
        assert_eq!(
            r["digests"].as_array().map(Vec::len),
            Some(4),
            "one per bank: {r}"
        );
    }
    let out = verify(pods, &tpm);
    rukt_tests::note(&format!(
        "{out}\n{}",
        rukt(pods, &tpm, "off", &["tpm", "log"])
    ));
    assert_verdict(&out, "OK", 0);
    // tpm2-tools reads the PCR value the log replays to, in every bank.
    for bank in ["sha1", "sha256", "sha384", "sha512"] {
        let value = tpm.pcr(bank, 15);
        assert!(
            out.stdout
                .contains(&format!("{bank}: replayed {value} tpm {value} ok")),
            "{bank} {value}:\n{out}"
        );
    }
}

#[test]
fn fly_run_is_measured_and_replays_to_the_pcr() {
    measured_pod(&PodStore::new(), &[]);
}

#[test]
fn nspawn_run_is_measured_and_replays_to_the_pcr() {
    measured_pod(&PodStore::with_stage1("nspawn", Vec::new()), &[]);
}

#[test]
fn kvm_run_is_measured_and_replays_to_the_pcr() {
    measured_pod(
        &PodStore::with_stage1("kvm", Vec::new()),
        &["--kvm-accel=tcg"],
    );
}

/// A log of a few measured pods (fly), for tampering.
fn measured_log(pods: &PodStore, tpm: &Swtpm, n: usize) -> Vec<u8> {
    for i in 0..n {
        let out = rukt(
            pods,
            tpm,
            "required",
            &pods.pod_args(
                "run",
                &[],
                &["--name", &format!("a{i}"), "--exec", "/bin/true"],
            ),
        );
        assert!(out.success(), "{out}");
    }
    assert_verdict(&verify(pods, tpm), "OK", 0);
    std::fs::read(tpm.log()).expect("the log")
}

/// The log's JSON-SEQ records as raw chunks (each `0x1E JSON \n`).
fn chunks(log: &[u8]) -> Vec<Vec<u8>> {
    log.split(|b| *b == 0x1E)
        .skip(1)
        .map(|c| [&[0x1E], c].concat())
        .collect()
}

fn write_chunks(path: &Path, chunks: &[Vec<u8>]) {
    std::fs::write(path, chunks.concat()).expect("write the log");
}

/// Writes the log as a writer that died mid-update leaves it: sticky bit set.
fn write_marked(path: &Path, data: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, data).expect("write the log");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o1644)).expect("mark the log");
}

#[test]
fn tampering_gives_mismatch_and_an_unextended_record_pending() {
    let tpm = Swtpm::start();
    let pods = PodStore::new();
    let log = measured_log(&pods, &tpm, 2);
    let recs = chunks(&log);
    assert_eq!(
        recs.len(),
        1 + 2 * 2,
        "log-start and two pods' prepared and started"
    );
    let cases: Vec<(&str, Vec<Vec<u8>>)> = vec![
        ("edited app name", {
            let mut r = recs.clone();
            r[2] = String::from_utf8(r[2].clone())
                .unwrap()
                .replace("\"app\":\"a0\"", "\"app\":\"zz\"")
                .into_bytes();
            assert_ne!(r[2], recs[2], "the edit applies");
            r
        }),
        ("deleted record", {
            let mut r = recs.clone();
            r.remove(3);
            r
        }),
        ("reordered records", {
            let mut r = recs.clone();
            r.swap(1, 2);
            r
        }),
        ("inserted record", {
            let mut r = recs.clone();
            r.insert(2, recs[1].clone());
            r
        }),
    ];
    for (what, doctored) in cases {
        write_chunks(&tpm.log(), &doctored);
        let out = verify(&pods, &tpm);
        assert_verdict(&out, "MISMATCH", 1);
        rukt_tests::note(&format!("{what}: MISMATCH"));
    }
    std::fs::write(tpm.log(), &log).expect("restore the log");
    assert_verdict(&verify(&pods, &tpm), "OK", 0);

    // A writer that crashed between append and extend: its record is in the log (the
    // pod-prepared record of pod a1, renumbered as the next one) and the log is marked.
    let last: Value = serde_json::from_slice(&recs[recs.len() - 1][1..]).unwrap();
    let mut pending: Value = serde_json::from_slice(&recs[3][1..]).unwrap();
    pending["recnum"] = (last["recnum"].as_u64().unwrap() + 1).into();
    let mut with_pending = recs.clone();
    with_pending.push([&[0x1E][..], &serde_json::to_vec(&pending).unwrap(), b"\n"].concat());
    write_marked(&tpm.log(), &with_pending.concat());
    let out = verify(&pods, &tpm);
    assert_verdict(&out, "PENDING", 3);
    // The next writer extends the pending record, and the log replays again.
    let out = run_true(&pods, &tpm, "required");
    assert!(out.success(), "{out}");
    assert!(out.stderr.contains("did not extend"), "{out}");
    assert_verdict(&verify(&pods, &tpm), "OK", 0);

    // A writer that died while appending: its torn record is left out, then cut.
    let mut torn = std::fs::read(tpm.log()).unwrap();
    torn.extend_from_slice(&recs[1][..recs[1].len() / 2]);
    write_marked(&tpm.log(), &torn);
    let out = verify(&pods, &tpm);
    assert_verdict(&out, "OK", 0);
    assert!(out.stdout.contains("torn last record"), "{out}");
    let out = run_true(&pods, &tpm, "required");
    assert!(
        out.success() && out.stderr.contains("cut a torn record"),
        "{out}"
    );
    assert_verdict(&verify(&pods, &tpm), "OK", 0);

    // An extend that bypassed the log.
    let digest = "ab".repeat(32);
    tpm.tool_ok("tpm2_pcrextend", &[&format!("15:sha256={digest}")]);
    let out = verify(&pods, &tpm);
    assert_verdict(&out, "MISMATCH", 1);
    assert!(out.stdout.contains("differs"), "{out}");
}

#[test]
fn required_refuses_without_a_tpm_and_best_effort_says_why() {
    let mut tpm = Swtpm::start();
    let pods = PodStore::new();
    let app = ["--exec", "/bin/true"];
    let out = rukt(
        &pods,
        &tpm,
        "required",
        &pods.pod_args("prepare", &[], &app),
    );
    assert!(out.success(), "{out}");
    let prepared = out.stdout.trim().to_owned();
    tpm.stop();
    // A prepared pod whose start cannot be measured stays prepared.
    let out = rukt(&pods, &tpm, "required", &["run-prepared", &prepared]);
    assert_eq!(out.code(), Some(254), "{out}");
    assert_eq!(pods.status(&prepared)["state"], "prepared");
    assert!(rukt(&pods, &tpm, "off", &["rm", &prepared]).success());
    // A new pod is refused and leaves nothing behind.
    let out = rukt(&pods, &tpm, "required", &pods.pod_args("run", &[], &app));
    assert_eq!(out.code(), Some(254), "{out}");
    assert!(
        out.stderr.contains("--tpm=required") && out.stderr.contains("cannot reach the TPM"),
        "{out}"
    );
    assert!(
        pods.pod_dirs().is_empty(),
        "pods left: {:?}",
        pods.pod_dirs()
    );
    assert!(pods.list().is_empty());
    // The flag (before the verb, as every global flag) wins over RUKT_TPM.
    let mut args = vec!["--tpm=best-effort"];
    args.extend(pods.pod_args("run", &[], &app));
    let out = rukt(&pods, &tpm, "required", &args);
    assert!(out.success(), "{out}");
    assert!(
        out.stderr.contains("not measured into the TPM")
            && out.stderr.contains("cannot reach the TPM"),
        "{out}"
    );
    // A PCR that userspace can reset is refused, saying why.
    let out = rukt(&pods, &tpm, "required", &["--tpm-pcr=23", "tpm", "verify"]);
    assert!(!out.success() && out.stderr.contains("reset"), "{out}");
}

#[test]
fn quote_by_a_tpm2_tools_ak_verifies_and_a_wrong_nonce_fails() {
    let tpm = Swtpm::start();
    let pods = PodStore::new();
    measured_log(&pods, &tpm, 1);
    let d = tpm.dir();
    let p = |f: &str| d.join(f).display().to_string();
    tpm.tool_ok(
        "tpm2_createek",
        &["-c", &p("ek.ctx"), "-G", "rsa", "-u", &p("ek.pub")],
    );
    tpm.tool_ok(
        "tpm2_createak",
        &[
            "-C",
            &p("ek.ctx"),
            "-c",
            &p("ak.ctx"),
            "-G",
            "rsa",
            "-g",
            "sha256",
            "-s",
            "rsassa",
            "-u",
            &p("ak.pub"),
            "-f",
            "pem",
        ],
    );
    tpm.tool_ok("tpm2_flushcontext", &["-t"]);
    let nonce = "c0ffee0123456789";
    let export = p("evidence");
    let out = rukt(
        &pods,
        &tpm,
        "off",
        &[
            "tpm",
            "quote",
            "--nonce",
            nonce,
            "--ak",
            &p("ak.ctx"),
            "--export",
            &export,
        ],
    );
    assert!(out.success(), "{out}");
    for f in [
        "quote.msg",
        "quote.sig",
        "quote.pcrs",
        "measure.log",
        "evidence.json",
    ] {
        assert!(d.join("evidence").join(f).is_file(), "{f} exported");
    }
    let check = |nonce: &str| {
        rukt(
            &pods,
            &tpm,
            "off",
            &[
                "tpm",
                "verify",
                "--quote",
                &export,
                "--nonce",
                nonce,
                "--ak-pub",
                &p("ak.pub"),
            ],
        )
    };
    let out = check(nonce);
    assert_verdict(&out, "OK", 0);
    assert!(
        out.stdout
            .contains("signature, nonce and PCR digest verify"),
        "{out}"
    );
    assert_verdict(&check("0badc0de"), "MISMATCH", 1);
}

#[test]
fn twenty_concurrent_pods_leave_a_log_that_replays() {
    let tpm = Swtpm::start();
    let pods = PodStore::new();
    let children: Vec<_> = (0..20)
        .map(|i| {
            let name = format!("c{i}");
            let mut cmd = pods.rukt().command(&pods.pod_args(
                "run",
                &[],
                &["--name", &name, "--exec", "/bin/true"],
            ));
            cmd.envs(tpm.env("required"));
            std::thread::spawn(move || run_command(cmd))
        })
        .collect();
    for c in children {
        let out = c.join().expect("thread");
        assert!(out.success(), "{out}");
    }
    let recs = records(&pods, &tpm);
    assert_eq!(recs.len(), 1 + 20 * 2, "{:?}", events(&recs));
    let nums: Vec<u64> = recs.iter().map(|r| r["recnum"].as_u64().unwrap()).collect();
    assert_eq!(nums, (0..41).collect::<Vec<_>>());
    assert_verdict(&verify(&pods, &tpm), "OK", 0);
    let out = rukt(&pods, &tpm, "off", &["tpm", "log"]);
    assert!(out.success() && out.stdout.starts_with("RECNUM"), "{out}");
    assert_eq!(out.lines().len(), 42, "{out}");
}

#[test]
fn a_log_of_another_boot_is_archived_and_a_new_one_starts_at_the_pcr_value() {
    let tpm = Swtpm::start();
    let pods = PodStore::new();
    measured_log(&pods, &tpm, 1);
    let before = tpm.pcr("sha256", 15);
    // The log claims another boot (as a log left in a persistent /run would).
    let log = std::fs::read_to_string(tpm.log()).expect("the log");
    let boot = records(&pods, &tpm)[0]["content"]["boot_id"]
        .as_str()
        .unwrap()
        .to_owned();
    std::fs::write(
        tpm.log(),
        log.replace(&boot, "00000000-0000-0000-0000-000000000000"),
    )
    .unwrap();
    let out = run_true(&pods, &tpm, "required");
    assert!(out.success(), "{out}");
    let archive = pods.store().join("tpm/archive");
    let archived: Vec<_> = std::fs::read_dir(&archive).expect("archive dir").collect();
    assert_eq!(
        archived.len(),
        1,
        "one archived log in {}",
        archive.display()
    );
    let recs = records(&pods, &tpm);
    assert_eq!(events(&recs), ["log-start", "pod-prepared", "app-started"]);
    let start = &recs[0]["content"];
    assert_eq!(start["boot_id"], boot.as_str());
    assert_eq!(
        start["pcr_start"]["sha256"],
        before.as_str(),
        "the new log starts at the PCR value"
    );
    assert!(
        start["previous_log"]
            .as_str()
            .is_some_and(|p| p.contains("measure-00000000"))
    );
    let out = verify(&pods, &tpm);
    assert_verdict(&out, "OK", 0);
    assert!(out.stdout.contains("before the log began"), "{out}");
}

#[test]
fn fetch_measures_the_verified_image_with_settings_from_tpm_toml() {
    let tpm = Swtpm::start();
    let pods = PodStore::new();
    // No flags and no environment: the config file says it all.
    let config = tpm.dir().join("etc");
    std::fs::create_dir(&config).unwrap();
    let toml = format!(
        "policy = \"required\"\ntcti = \"{}\"\npcr = 14\nlog = \"{}\"\n",
        tpm.tcti(),
        tpm.log().display()
    );
    std::fs::write(config.join("tpm.toml"), toml).unwrap();
    let config = config.to_str().expect("utf-8");
    let out = run_command(
        pods.rukt()
            .command(&["--config-dir", config, "fetch", &pods.image]),
    );
    assert!(out.success(), "{out}");
    let recs = records(&pods, &tpm);
    assert_eq!(events(&recs), ["log-start", "image-verified"]);
    let record = pods.rukt().record(&pods.image_id);
    let c = &recs[1]["content"];
    assert_eq!(c["image_digests"][0], record["manifest"]);
    assert_eq!(c["config_digests"][0], pods.image_id.as_str());
    let diff_ids: Vec<Value> = pods.rukt().inspect(&pods.image)["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["diff_id"].clone())
        .collect();
    assert_eq!(c["layers"].as_array(), Some(&diff_ids));
    assert_eq!(recs[1]["pcr"], 14);
    let out = run_command(
        pods.rukt()
            .command(&["--config-dir", config, "tpm", "verify"]),
    );
    assert_verdict(&out, "OK", 0);
    assert!(
        out.stdout
            .contains(&format!("sha256: replayed {}", tpm.pcr("sha256", 14))),
        "{out}"
    );
}
