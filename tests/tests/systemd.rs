//! rukt's systemd units, checked by systemd's own tools without systemd as PID 1: every
//! shipped unit (`dist/systemd`) and a `rukt generate systemd` unit pass `systemd-analyze
//! verify` with nothing on stderr (it exits 0 on unknown keys, so any output fails), the
//! tmpfiles.d entry is accepted by `systemd-tmpfiles`, and the generator turns a set of
//! definitions (`tests/tests/systemd/*.pod`) into exactly the expected units and links.

use std::path::{Path, PathBuf};
use std::process::Command;

use rukt_tests::rukt::{Rukt, binary};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `systemd-analyze verify` of `units`: passes only when it succeeds silently.
fn verify(units: &[PathBuf]) {
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(units)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .expect("systemd-analyze (package systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify {units:?}: {}\n{stderr}",
        out.status
    );
}

/// A copy of `text` as unit `name` in `dir`, with `/usr/bin/rukt` the binary under test.
fn install(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let bin = binary();
    std::fs::write(&path, text.replace("/usr/bin/rukt", bin.to_str().unwrap())).unwrap();
    path
}

#[test]
fn shipped_units_pass_systemd_analyze_verify() {
    let dist = repo().join("dist/systemd");
    let dir = tempfile::tempdir().unwrap();
    let mut units = Vec::new();
    for name in [
        "rukt-gc.service",
        "rukt-gc.timer",
        "rukt@.service",
        "rukt-api.socket",
        "rukt-api.service",
    ] {
        let text = std::fs::read_to_string(dist.join(name)).unwrap();
        // A template is verified as an instance.
        let as_name = name.replace("@.", "@docker.io-library-busybox.");
        units.push(install(dir.path(), &as_name, &text));
    }
    verify(&units);

    let root = tempfile::tempdir().unwrap();
    // The group tmpfiles names comes from sysusers.d, as at boot.
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    let users = Command::new("systemd-sysusers")
        .arg(format!("--root={}", root.path().display()))
        .arg(dist.join("sysusers.d/rukt.conf"))
        .output()
        .unwrap();
    assert!(users.status.success(), "{users:?}");
    let group = std::fs::read_to_string(root.path().join("etc/group")).unwrap();
    let gid: u32 = group
        .lines()
        .find_map(|l| l.strip_prefix("rukt:x:"))
        .and_then(|r| r.trim_end_matches(':').parse().ok())
        .unwrap_or_else(|| panic!("no rukt group: {group}"));
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("rukt-api:") && l.contains(&format!(":{gid}:"))),
        "{passwd}"
    );
    let out = Command::new("systemd-tmpfiles")
        .arg("--create")
        .arg(format!("--root={}", root.path().display()))
        .arg(dist.join("tmpfiles.d/rukt.conf"))
        .output()
        .unwrap();
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    for d in [
        "var/lib/rukt",
        "etc/rukt/systemd",
        "run/rukt",
        "run/rukt/pods",
    ] {
        assert!(root.path().join(d).is_dir(), "{d}");
    }
    use std::os::unix::fs::MetadataExt;
    let run_dirs = std::fs::metadata(root.path().join("run/rukt/pods")).unwrap();
    assert_eq!(
        run_dirs.mode() & 0o7777,
        0o700,
        "the pods' run directories are root's"
    );
    let store = std::fs::metadata(root.path().join("var/lib/rukt")).unwrap();
    assert_eq!(
        (store.mode() & 0o7777, store.gid()),
        (0o2750, gid),
        "the store is the group's to read"
    );
}

#[test]
fn generated_units_pass_verify_and_quote_their_words() {
    let rukt = Rukt::new();
    let script = r#"echo "100% $HOME"; exit 0"#;
    let unit = rukt.ok(&[
        "generate",
        "systemd",
        "--net=host",
        "docker.io/library/busybox",
        "--name",
        "sh",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        script,
    ]);
    let exec = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart=");
    assert!(
        exec.ends_with(r#"--exec /bin/sh -- -c "echo \"100%% $$HOME\"; exit 0""#),
        "{exec}"
    );
    assert!(
        exec.contains(&format!("--dir={}", rukt.store().display())),
        "{exec}"
    );
    for line in ["Type=notify", "KillMode=mixed", "Delegate=yes"] {
        assert!(unit.lines().any(|l| l == line), "{line}:\n{unit}");
    }
    let dir = tempfile::tempdir().unwrap();
    verify(&[install(dir.path(), "pod.service", &unit)]);

    let bad = rukt.run(&["generate", "systemd", "--net=host,moon", "busybox"]);
    assert_eq!(bad.code(), Some(2), "a usage error: {bad}");
}

#[test]
fn the_generator_turns_definitions_into_units() {
    let data = repo().join("tests/tests/systemd");
    let config = tempfile::tempdir().unwrap();
    let defs = config.path().join("systemd");
    std::fs::create_dir(&defs).unwrap();
    for name in ["web.pod", "worker.pod", "broken.pod"] {
        std::fs::copy(data.join(name), defs.join(name)).unwrap();
    }
    let bin_dir = tempfile::tempdir().unwrap();
    let generator = bin_dir.path().join("rukt-systemd-generator");
    std::os::unix::fs::symlink(binary(), &generator).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(&generator)
        .arg(out_dir.path())
        .arg("/nonexistent/early")
        .arg("/nonexistent/late")
        .env("RUKT_CONFIG_DIR", config.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.pod") && stderr.contains("unknown key Colour="),
        "the bad definition is reported: {stderr}"
    );
    let real = std::fs::canonicalize(binary()).unwrap();
    let mut units = Vec::new();
    for name in ["web.service", "worker.service"] {
        let got = std::fs::read_to_string(out_dir.path().join(name)).unwrap();
        let want = std::fs::read_to_string(data.join(name))
            .unwrap()
            .replace("CONFIG", config.path().to_str().unwrap())
            .replace("RUKT", real.to_str().unwrap());
        assert_eq!(got, want, "{name}");
        units.push(out_dir.path().join(name));
    }
    assert!(!out_dir.path().join("broken.service").exists());
    let mut links: Vec<String> = walk(out_dir.path())
        .into_iter()
        .filter(|p| p.is_symlink())
        .map(|p| {
            let target = std::fs::read_link(&p).unwrap();
            let rel = p
                .strip_prefix(out_dir.path())
                .unwrap()
                .display()
                .to_string();
            format!("{rel} -> {}", target.display())
        })
        .collect();
    links.sort();
    assert_eq!(
        links,
        [
            "default.target.wants/web.service -> ../web.service",
            "multi-user.target.wants/web.service -> ../web.service",
            "multi-user.target.wants/worker.service -> ../worker.service",
        ]
    );
    verify(&units);
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() && !p.is_symlink() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
