//! rukt describing itself (`version`, `config`), its completion scripts and man pages, as a
//! user or a packager checks them: every engine found with its interface versions and
//! features, the configuration the flags give, each completion script loading in its own
//! shell, each man page rendering with `man -l`.

use std::process::{Command, Stdio};

use rukt_tests::rukt::{Rukt, run_command};
use serde_json::Value;

fn json(rukt: &Rukt, args: &[&str]) -> Value {
    let out = rukt.run(args);
    assert!(out.success(), "{out}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn version_reports_each_engine_and_the_host() {
    let rukt = Rukt::new();
    let v = json(&rukt, &["version", "--format", "json"]);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["interface"]["current"], 2);
    for (engine, feature) in [
        ("nspawn", "seccomp"),
        ("kvm", "kvm-accel"),
        ("fly", "net-host"),
    ] {
        let e = v["engines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == engine)
            .unwrap_or_else(|| panic!("no {engine} in {v:#}"));
        assert_eq!(e["interface"], 2, "{e:#}");
        let features: Vec<&str> = e["features"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(features.contains(&feature), "{engine}: {features:?}");
    }
    let cgroups = v["host"]["cgroups"].as_str().unwrap();
    assert!(
        cgroups.starts_with("v1") || cgroups.starts_with("v2"),
        "{cgroups}"
    );
    let text = rukt.run(&["version"]);
    assert!(
        text.success() && text.stdout.starts_with("rukt version "),
        "{text}"
    );
}

#[test]
fn config_shows_what_the_flags_chose() {
    let rukt = Rukt::new();
    let conf = tempfile::tempdir().unwrap();
    let dir = conf.path().to_str().unwrap();
    let c = json(
        &rukt,
        &[
            "--config-dir",
            dir,
            "--cni-plugin-path",
            "/opt/a:/opt/b",
            "config",
            "--format",
            "json",
        ],
    );
    assert_eq!(c["store"], rukt.store().to_str().unwrap());
    assert_eq!(c["config_dir"], dir);
    assert_eq!(
        c["registries_conf"]["path"],
        format!("{dir}/registries.conf")
    );
    assert_eq!(c["registries_conf"]["exists"], false);
    assert_eq!(c["networks"]["net_d"], format!("{dir}/net.d"));
    let auth: Vec<&str> = c["auth_files"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        auth.contains(&format!("{dir}/auth.json").as_str()),
        "{auth:?}"
    );
    assert_eq!(c["certs_dirs"][0], format!("{dir}/certs.d"));
    assert_eq!(
        c["networks"]["plugin_dirs"],
        serde_json::json!(["/opt/a", "/opt/b"])
    );
}

#[test]
fn completion_scripts_load_in_their_shells() {
    let rukt = Rukt::new();
    let tmp = tempfile::tempdir().unwrap();
    for (shell, check) in [
        ("bash", "source \"$0\" && complete -p rukt"),
        (
            "zsh",
            "autoload -Uz compinit && compinit -u && source \"$0\"",
        ),
        (
            "fish",
            "source $argv[1]; and complete -c rukt | string match -q '*image*'",
        ),
    ] {
        let out = rukt.run(&["completion", shell]);
        assert!(out.success() && out.stdout.contains("rukt"), "{out}");
        let script = tmp.path().join(format!("rukt.{shell}"));
        std::fs::write(&script, &out.stdout).unwrap();
        let mut cmd = Command::new(shell);
        cmd.args(["-c", check, script.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let loaded = run_command(cmd);
        assert!(
            loaded.success() && loaded.stderr.trim().is_empty(),
            "{shell}: {loaded}"
        );
    }
}

#[test]
fn a_man_page_for_every_verb_renders() {
    let rukt = Rukt::new();
    let tmp = tempfile::tempdir().unwrap();
    let out = rukt.run(&["generate", "man", tmp.path().to_str().unwrap()]);
    assert!(out.success(), "{out}");
    let mut pages: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for verb in [
        "rukt.1",
        "rukt-run.1",
        "rukt-image-list.1",
        "rukt-gc.1",
        "rukt-version.1",
    ] {
        assert!(pages.iter().any(|p| p == verb), "no {verb} in {pages:?}");
    }
    for page in &pages {
        let mut cmd = Command::new("man");
        cmd.args(["-P", "cat", "-l"])
            .arg(tmp.path().join(page))
            .env("MANWIDTH", "80")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let shown = run_command(cmd);
        assert!(
            shown.success() && shown.stdout.contains("NAME"),
            "{page}: {shown}"
        );
        let name = page.trim_end_matches(".1");
        assert!(shown.stdout.contains(name), "{page} does not name itself");
    }
}
