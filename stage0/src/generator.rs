//! `rukt-systemd-generator` (the `rukt` binary under that name, a symlink
//! in `/usr/lib/systemd/system-generators/`): quadlet's idea for rukt. Each
//! `<config>/systemd/NAME.pod` (default `/etc/rukt/systemd`, `/var` may not
//! be mounted yet) becomes `NAME.service` in the generator's output
//! directory, its `[Install]` `WantedBy=`/`RequiredBy=` as the symlinks
//! systemd would make. A definition that does not parse is skipped with a
//! message on stderr (the journal, for generators); the others still are
//! written. systemd.generator(7): argv is `normal [early late]`.
//!
//! ```ini
//! [Pod]
//! Image=docker.io/library/nginx:latest   # required
//! Name=web                               # the app's name
//! Exec=/usr/sbin/nginx                   # its command
//! Args=-g "daemon off;"                  # its arguments (shell-like words)
//! Net=host                               # --net
//! Hostname=web                           # --hostname
//! Stage1=nspawn                          # --stage1
//! Volume=data,kind=host,source=/srv/data # --volume (repeatable)
//! Mount=volume=data,target=/data         # --mount (repeatable)
//! Memory=256Mi                           # --memory (the pod's)
//! Cpu=500m                               # --cpu (the pod's)
//! Environment=KEY=VALUE                  # --set-env (repeatable)
//! User=… Group=… WorkingDir=…            # --user, --group, --working-dir
//! ReadOnlyRootfs=true                    # --readonly-rootfs
//! SdNotify=app                           # --sd-notify
//! PullPolicy=never                       # --pull-policy
//! LogMaxSize=10Mi LogMaxFiles=5          # --log-max-size, --log-max-files
//! [Unit] / [Service] / [Install]          # copied into the unit
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};

use crate::cli::words::RunWords;
use crate::unit::{UnitSpec, render};

/// The name under which `rukt` acts as the generator.
pub const NAME: &str = "rukt-systemd-generator";

/// A parsed `.pod` file.
#[derive(Debug, Default)]
struct Definition {
    pod: Vec<(String, String)>,
    sections: BTreeMap<String, Vec<String>>,
}

/// The generator's `main`.
pub fn main(args: &[String]) -> ExitCode {
    match generate(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            crate::report(&e.context(NAME));
            ExitCode::FAILURE
        }
    }
}

fn generate(args: &[String]) -> Result<()> {
    let out = match args {
        [normal] | [normal, _, _] => PathBuf::from(normal),
        _ => bail!("usage: {NAME} NORMAL-DIR [EARLY-DIR LATE-DIR]"),
    };
    let config =
        std::env::var_os("RUKT_CONFIG_DIR").map_or_else(|| "/etc/rukt".into(), PathBuf::from);
    let dir = config.join("systemd");
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "pod"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    files.sort();
    let rukt = std::env::current_exe().context("cannot find the rukt binary")?;
    for file in files {
        if let Err(e) = write_unit(&file, &rukt, &out) {
            crate::report(&e.context(format!("{NAME}: skipping {}", file.display())));
        }
    }
    Ok(())
}

/// Writes the unit of definition `file` (and its install symlinks) to `out`.
fn write_unit(file: &Path, rukt: &Path, out: &Path) -> Result<()> {
    let text = std::fs::read_to_string(file).context("cannot read it")?;
    let def = parse(&text)?;
    let stem = file
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| anyhow!("bad name"))?;
    let run = run_words(&def)?;
    RunWords::parse(&run).context("invalid pod")?;
    let mut unit_lines = def.sections.get("Unit").cloned().unwrap_or_default();
    let description =
        take_key(&mut unit_lines, "Description").unwrap_or_else(|| format!("rukt pod {stem}"));
    let install = def.sections.get("Install").cloned();
    let spec = UnitSpec {
        description,
        rukt,
        source: Some(file),
        unit: unit_lines,
        service: def.sections.get("Service").cloned().unwrap_or_default(),
        install: install.clone(),
        run,
        ..UnitSpec::new(rukt)
    };
    let name = format!("{stem}.service");
    std::fs::write(out.join(&name), render(&spec))
        .with_context(|| format!("cannot write {}", out.join(&name).display()))?;
    for line in install.unwrap_or_else(|| vec!["WantedBy=multi-user.target".into()]) {
        let (key, targets) = line.split_once('=').unwrap_or((&line, ""));
        let suffix = match key.trim() {
            "WantedBy" => "wants",
            "RequiredBy" => "requires",
            _ => continue,
        };
        for target in targets.split_whitespace() {
            let dir = out.join(format!("{target}.{suffix}"));
            std::fs::create_dir_all(&dir)?;
            let link = dir.join(&name);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(format!("../{name}"), &link)
                .with_context(|| format!("cannot link {}", link.display()))?;
        }
    }
    Ok(())
}

fn take_key(lines: &mut Vec<String>, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    let i = lines.iter().position(|l| l.starts_with(&prefix))?;
    Some(lines.remove(i)[prefix.len()..].to_string())
}

fn parse(text: &str) -> Result<Definition> {
    let mut def = Definition::default();
    let mut section = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if !["Pod", "Unit", "Service", "Install"].contains(&name) {
                bail!("line {}: unknown section [{name}]", n + 1);
            }
            section = Some(name.to_string());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| anyhow!("line {}: expected KEY=VALUE", n + 1))?;
        match section.as_deref() {
            Some("Pod") => def
                .pod
                .push((key.trim().to_string(), value.trim().to_string())),
            Some(s) => def
                .sections
                .entry(s.to_string())
                .or_default()
                .push(line.to_string()),
            None => bail!("line {}: a key before any section", n + 1),
        }
    }
    Ok(def)
}

/// The `rukt run` words of a definition.
fn run_words(def: &Definition) -> Result<Vec<String>> {
    let (mut pod, mut app, mut args, mut image) = (Vec::new(), Vec::new(), None, None);
    for (key, value) in &def.pod {
        let flag = |f: &str| format!("{f}={value}");
        match key.as_str() {
            "Image" => image = Some(value.clone()),
            "Args" => args = Some(split_words(value)?),
            "Net" => pod.push(flag("--net")),
            "Hostname" => pod.push(flag("--hostname")),
            "Stage1" => pod.push(flag("--stage1")),
            "Volume" => pod.push(flag("--volume")),
            "Memory" => pod.push(flag("--memory")),
            "Cpu" => pod.push(flag("--cpu")),
            "Environment" => pod.push(flag("--set-env")),
            "SdNotify" => pod.push(flag("--sd-notify")),
            "PullPolicy" => pod.push(flag("--pull-policy")),
            "LogMaxSize" => pod.push(flag("--log-max-size")),
            "LogMaxFiles" => pod.push(flag("--log-max-files")),
            "Name" => app.push(flag("--name")),
            "Exec" => app.push(flag("--exec")),
            "Mount" => app.push(flag("--mount")),
            "User" => app.push(flag("--user")),
            "Group" => app.push(flag("--group")),
            "WorkingDir" => app.push(flag("--working-dir")),
            "ReadOnlyRootfs" if value == "true" => app.push("--readonly-rootfs".into()),
            "ReadOnlyRootfs" if value == "false" => {}
            "Port" | "PublishPort" => pod.push(flag("--publish")),
            "Dns" => pod.push(flag("--dns")),
            other => bail!("unknown key {other}= in [Pod]"),
        }
    }
    let image = image.ok_or_else(|| anyhow!("[Pod] has no Image="))?;
    let mut words = pod;
    words.push("--quiet".into());
    words.push(image);
    words.extend(app);
    if let Some(a) = args {
        words.push("--".into());
        words.extend(a);
    }
    Ok(words)
}

/// Shell-like words: whitespace-separated, `"…"` and `'…'` quoting, `\` escapes.
fn split_words(s: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut cur: Option<String> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(cur.take()),
            '"' | '\'' => {
                let w = cur.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some('\\') if c == '"' => w.extend(chars.next()),
                        Some(x) => w.push(x),
                        None => bail!("Args=: unterminated quote"),
                    }
                }
            }
            '\\' => cur.get_or_insert_with(String::new).extend(chars.next()),
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(cur);
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_like_a_shell() {
        assert_eq!(
            split_words(r#"-g "daemon off;" 'a b' c\ d"#).unwrap(),
            ["-g", "daemon off;", "a b", "c d"]
        );
        assert!(split_words("\"open").is_err());
    }

    #[test]
    fn definitions_become_run_words() {
        let def = parse(
            "[Pod]\nImage=nginx\nName=web\nNet=host\nArgs=-g \"daemon off;\"\n[Service]\nRestart=always\n",
        )
        .unwrap();
        assert_eq!(
            run_words(&def).unwrap(),
            [
                "--net=host",
                "--quiet",
                "nginx",
                "--name=web",
                "--",
                "-g",
                "daemon off;"
            ]
        );
        assert_eq!(def.sections["Service"], ["Restart=always"]);
        let bad = parse("[Pod]\nImage=x\nColour=red\n").unwrap();
        assert!(
            run_words(&bad)
                .unwrap_err()
                .to_string()
                .contains("unknown key Colour=")
        );
        assert!(parse("Image=x\n").is_err());
        assert!(parse("[Pods]\n").is_err());
    }
}
