//! Building and running nspawn pods in the tests: an app's words (`App`), pods of one or
//! more apps run to completion or in the background, and the inspector's reports, printed
//! or written into a host directory (`OutDir`) when several apps report at once.

use rukt_tests::inspector::{self, parse_report};
use rukt_tests::pods::{HostDir, PodStore, RunningPod};
use rukt_tests::rukt::Output;
use serde_json::Value;

/// One app of a pod: `--name NAME FLAGS... --exec CMD -- ARGS...`.
#[derive(Clone)]
pub struct App {
    name: String,
    flags: Vec<String>,
    exec: Vec<String>,
}

impl App {
    /// `/bin/sh -c SCRIPT`.
    pub fn sh(name: &str, script: &str) -> App {
        App::new(name, &["/bin/sh", "-c", script])
    }

    /// `rukt-inspector ARGS...`.
    pub fn inspector(name: &str, args: &[&str]) -> App {
        let mut exec = vec![inspector::PATH];
        exec.extend_from_slice(args);
        App::new(name, &exec)
    }

    /// `rukt-inspector report`.
    pub fn report(name: &str) -> App {
        App::inspector(name, &["report"])
    }

    /// An app that writes its report to `/out/NAME.json` (an `OutDir` mounted at `/out`)
    /// and then runs `then` (shell).
    pub fn report_to_out(name: &str, then: &str) -> App {
        let script = format!("{} report > /out/{name}.json; {then}", inspector::PATH);
        App::sh(name, &script).with(&["--mount", "volume=out,target=/out"])
    }

    fn new(name: &str, exec: &[&str]) -> App {
        App {
            name: name.to_owned(),
            flags: Vec::new(),
            exec: exec.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Adds app flags (`--user`, `--memory`, `--caps-remove=...`).
    pub fn with(mut self, flags: &[&str]) -> App {
        self.flags.extend(flags.iter().map(|s| (*s).to_owned()));
        self
    }

    fn words(&self) -> Vec<String> {
        let mut w = vec!["--name".to_owned(), self.name.clone()];
        w.extend(self.flags.iter().cloned());
        w.push("--exec".to_owned());
        w.push(self.exec[0].clone());
        w.push("--".to_owned());
        w.extend(self.exec[1..].iter().cloned());
        w
    }
}

/// `run --stage1=nspawn POD_FLAGS IMAGE APP [--- IMAGE APP]...` as words.
pub fn run_words(pod_flags: &[&str], image: &str, apps: &[App]) -> Vec<String> {
    let mut words: Vec<String> = ["run", "--stage1=nspawn"]
        .iter()
        .chain(pod_flags)
        .map(|s| (*s).to_owned())
        .collect();
    for (i, app) in apps.iter().enumerate() {
        if i > 0 {
            words.push("---".to_owned());
        }
        words.push(image.to_owned());
        words.extend(app.words());
    }
    words
}

pub fn strs(words: &[String]) -> Vec<&str> {
    words.iter().map(String::as_str).collect()
}

/// Runs a pod of `apps` on `image` to completion.
pub fn run_image(pods: &PodStore, pod_flags: &[&str], image: &str, apps: &[App]) -> Output {
    pods.run(&strs(&run_words(pod_flags, image, apps)))
}

/// Runs a pod of `apps` on the store's image to completion.
pub fn run(pods: &PodStore, pod_flags: &[&str], apps: &[App]) -> Output {
    run_image(pods, pod_flags, &pods.image, apps)
}

/// Starts a pod of `apps` on the store's image in the background.
pub fn spawn(pods: &PodStore, pod_flags: &[&str], apps: &[App]) -> RunningPod {
    // spawn_pod adds `run --stage1=nspawn POD_FLAGS IMAGE` itself.
    let words = run_words(&[], &pods.image, apps);
    let app_words = strs(&words[3..]);
    pods.spawn_pod(pod_flags, &app_words)
}

/// Runs a pod of one app, `app` (the inspector's `report`, say), asserts success and parses
/// the report it printed.
pub fn report_of(pods: &PodStore, pod_flags: &[&str], app: App) -> Value {
    let out = run(pods, pod_flags, &[app]);
    assert!(out.success(), "the inspector's pod failed:\n{out}");
    parse_report(&out.stdout)
}

/// `report_of` an app `name` with `app_flags` running `rukt-inspector report`.
pub fn report(pods: &PodStore, pod_flags: &[&str], name: &str, app_flags: &[&str]) -> Value {
    report_of(pods, pod_flags, App::report(name).with(app_flags))
}

/// A host directory apps write their reports into (volume `out`).
pub struct OutDir(pub HostDir);

impl OutDir {
    /// Mode 0777: apps running as other users write there too.
    pub fn new() -> OutDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = HostDir::new();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777))
            .expect("chmod the report directory");
        OutDir(dir)
    }

    /// `--volume out,kind=host,source=DIR`.
    pub fn volume(&self) -> String {
        self.0.volume_flag("out", false)
    }

    /// The report app `name` wrote.
    pub fn report(&self, name: &str) -> Value {
        let path = self.0.path().join(format!("{name}.json"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("app {name} wrote no report ({}): {e}", path.display()));
        parse_report(&text)
    }
}
