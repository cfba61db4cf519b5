//! The Debian package as an operator gets it: built from the workspace by
//! `scripts/build-deb.sh`, free of lintian errors, installed with `apt-get install ./rukt_*.deb`,
//! a pod run from an OCI layout with the installed binaries only (a bare environment, no
//! checkout on `PATH`, the engines found in `/usr/lib/rukt/stage1`), upgraded keeping an edited
//! conffile and the store, then purged with nothing
//! the package owned left behind and the store kept, as Debian packages keep their data.
//!
//! It installs on this machine itself, not in a debootstrap'd chroot: a chroot would download
//! and unpack a base system on every run and needs `/proc`, `/sys`, `/dev` and the cgroup
//! hierarchies mounted into it to run a pod, while the machine already has every dependency
//! (scripts/setup.sh installs them) and nothing else here uses the installed paths (the other
//! tests run `target/`'s binaries). A guard purges the package even when the test fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rukt_tests::pods::PodStore;
use rukt_tests::rukt::{Output, run_command};

/// `program args...`, its output captured.
fn cmd(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("DEBIAN_FRONTEND", "noninteractive");
    c
}

fn ok(c: Command) -> Output {
    let out = run_command(c);
    assert!(out.success(), "{out}");
    out
}

/// Purges the package when dropped.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run_command(cmd("apt-get", &["purge", "-y", "-q", "rukt"]));
    }
}

#[test]
fn the_debian_package_installs_runs_a_pod_and_purges_clean() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().to_str().unwrap();
    // From the binaries the suite runs (built before it), not a build of its own.
    let built = ok(cmd(
        workspace.join("scripts/build-deb.sh"),
        &["--no-build", out],
    ));
    let deb = PathBuf::from(built.stdout.trim());
    assert!(deb.is_file(), "{built}");
    let deb_path = deb.to_str().unwrap();
    let lint = run_command(cmd("lintian", &["--fail-on", "error", deb_path]));
    assert!(lint.success(), "lintian errors:\n{lint}");

    // A rukt package left by an earlier run would hide what this one installs.
    let _ = run_command(cmd("apt-get", &["purge", "-y", "-q", "rukt"]));
    let _guard = Installed;
    let install = ["install", "-y", "-q", "--no-install-recommends", deb_path];
    ok(cmd("apt-get", &install));
    let owned: Vec<PathBuf> = ok(cmd("dpkg", &["-L", "rukt"]))
        .stdout
        .lines()
        .map(PathBuf::from)
        .filter(|p| !p.is_dir())
        .collect();
    for p in [
        "/usr/bin/rukt",
        "/usr/lib/rukt/stage1/rukt-stage1-nspawn",
        "/etc/rukt/registries.conf",
    ] {
        assert!(
            owned.iter().any(|o| o == Path::new(p)),
            "the package has no {p}"
        );
    }
    ok(cmd("getent", &["group", "rukt"]));
    ok(cmd("getent", &["passwd", "rukt-api"]));

    let pods = PodStore::with_stage1("nspawn", Vec::new());
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap();
    let bare = |args: &[&str]| {
        let mut c = cmd("/usr/bin/rukt", &["--dir", dir]);
        c.args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        c
    };
    let run = ok(bare(&[
        "run",
        "--net=none",
        &pods.image,
        "--exec",
        "/bin/echo",
        "--",
        "hello from the package",
    ]));
    assert!(run.stdout.contains("hello from the package"), "{run}");
    let version = ok(bare(&["version", "--format", "json"]));
    assert!(
        version
            .stdout
            .contains("/usr/lib/rukt/stage1/rukt-stage1-kvm"),
        "{version}"
    );
    // An upgrade keeps the operator's edit of a conffile and the store.
    let conf = Path::new("/etc/rukt/registries.conf");
    let edited = format!(
        "{}# edited by the operator\n",
        std::fs::read_to_string(conf).unwrap()
    );
    std::fs::write(conf, &edited).unwrap();
    let newer_dir = tempfile::tempdir().unwrap();
    let newer_out = newer_dir.path().to_str().unwrap();
    let mut build = cmd(
        workspace.join("scripts/build-deb.sh"),
        &["--no-build", newer_out],
    );
    build.env("RUKT_DEB_VERSION", "99.0.0");
    let newer = ok(build).stdout.trim().to_string();
    ok(cmd(
        "apt-get",
        &["install", "-y", "-q", "--no-install-recommends", &newer],
    ));
    let version = ok(cmd("dpkg-query", &["-W", "-f=${Version}", "rukt"]));
    assert_eq!(version.stdout, "99.0.0");
    assert_eq!(
        std::fs::read_to_string(conf).unwrap(),
        edited,
        "the upgrade lost an edit"
    );
    let listed = ok(bare(&["image", "list", "--format", "json"]));
    assert!(
        listed.stdout.contains(&pods.image_id),
        "the store after the upgrade: {listed}"
    );
    let page = ok(cmd("man", &["-P", "cat", "rukt-run"]));
    assert!(page.stdout.contains("rukt-run"), "{page}");
    ok(bare(&["gc", "--grace-period=0s"]));

    ok(cmd("apt-get", &["purge", "-y", "-q", "rukt"]));
    let left: Vec<&PathBuf> = owned
        .iter()
        .filter(|p| p.symlink_metadata().is_ok())
        .collect();
    assert!(left.is_empty(), "left after purge: {left:?}");
    assert!(!Path::new("/etc/rukt/registries.conf").exists());
    assert!(
        Path::new("/var/lib/rukt").is_dir(),
        "purge removed the store"
    );
}
