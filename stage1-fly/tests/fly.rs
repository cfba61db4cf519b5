//! The fly stage1 end to end, as root, on pod directories built by hand the
//! way stage0 leaves them: a manifest, an app root (busybox) bind-mounted
//! onto itself in place of stage0's overlay, the pod lock held on
//! `RUKT_LOCK_FD`, the working directory in the pod.
//!
//! Every pod is torn down by a guard, even when a test fails: it kills a
//! still-running app, unmounts everything below the pod directory, and
//! keeps the temporary directory (rather than deleting through a mount of
//! the host's `/dev`) if anything is left mounted.

use std::cell::Cell;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, symlink};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rukt_contract::{
    App, ENV_LOCK_FD, ImageInfo, Mount, PodManifest, Propagation, Stage1Info, Volume, VolumeKind,
};
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::mount::{MountPropagationFlags, UnmountFlags};

const STAGE1: &str = env!("CARGO_BIN_EXE_rukt-stage1-fly");
const UUID: &str = "6f1a2b3c-4d5e-4f60-8a7b-9c0d1e2f3a4b";
const MARKER: &str = "fly-marker\n";
const APPLETS: &[&str] = &[
    "sh", "cat", "sleep", "echo", "ls", "grep", "tr", "pwd", "touch", "true", "mount",
];

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "the fly stage1 tests mount things: run them as root"
    );
}

/// A pod directory with one app, `app`, whose root holds busybox.
struct Pod {
    dir: PathBuf,
    /// Beside the pod: host directories for volumes.
    host: PathBuf,
    manifest: PodManifest,
    /// The RUKT_LOCK_FD of the last run.
    lock_fd: Cell<i32>,
    tmp: Option<tempfile::TempDir>,
}

impl Pod {
    fn new(exec: &[&str]) -> Pod {
        require_root();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pod");
        let host = tmp.path().join("host");
        std::fs::create_dir_all(&host).unwrap();
        let pod = Pod {
            dir,
            host,
            manifest: manifest(exec),
            lock_fd: Cell::new(-1),
            tmp: Some(tmp),
        };
        let rootfs = pod.rootfs();
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::create_dir_all(rootfs.join("work")).unwrap();
        std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
        for applet in APPLETS {
            symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        std::fs::write(rootfs.join("etc/hostname-marker"), MARKER).unwrap();
        // stage0's overlay, for the purpose of these tests.
        // From here on `pod`'s guard unmounts it.
        rustix::mount::mount_bind(&rootfs, &rootfs).unwrap();
        pod
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.join("apps/app/rootfs")
    }

    fn app(&mut self) -> &mut App {
        &mut self.manifest.apps[0]
    }

    fn write_manifest(&self) {
        std::fs::write(self.dir.join("pod"), self.manifest.to_json()).unwrap();
    }

    /// `run UUID`, as stage0 execs it: the lock held on RUKT_LOCK_FD.
    fn spawn_run(&self) -> Child {
        self.write_manifest();
        let lock = rustix::fs::open(
            &self.dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive).unwrap();
        let fd = lock.as_raw_fd();
        self.lock_fd.set(fd);
        let mut cmd = Command::new(STAGE1);
        cmd.args(["run", "--debug", UUID])
            .current_dir(&self.dir)
            .env(ENV_LOCK_FD, fd.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // SAFETY: the closure only makes one fcntl call, which is
        // async-signal-safe, between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        // From now on only the pod holds the lock.
        drop::<OwnedFd>(lock);
        child
    }

    fn run(&self) -> Output {
        self.spawn_run().wait_with_output().unwrap()
    }

    /// Another entrypoint, from the pod directory.
    fn stage1(&self, args: &[&str]) -> Output {
        Command::new(STAGE1)
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn gc(&self) {
        let out = self.stage1(&["gc", UUID]);
        assert!(out.status.success(), "gc: {}", text(&out.stderr));
    }

    /// Mount points strictly below the app's root.
    fn mounts_below_rootfs(&self) -> Vec<PathBuf> {
        let rootfs = self.rootfs();
        mount_points()
            .into_iter()
            .filter(|p| p.starts_with(&rootfs) && *p != rootfs)
            .collect()
    }

    fn running(&self) -> bool {
        let dir = rustix::fs::open(
            &self.dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        rustix::fs::flock(&dir, FlockOperation::NonBlockingLockShared).is_err()
    }

    /// Waits for `ready`, then for the app to be chrooted; its PID.
    fn wait_started(&self) -> u32 {
        wait_for_file(&self.dir.join("ready"));
        let pid: u32 = wait_for_file(&self.dir.join("pid")).parse().unwrap();
        let rootfs = std::fs::metadata(self.rootfs()).unwrap();
        wait_until("the app to chroot", || {
            std::fs::metadata(format!("/proc/{pid}/root"))
                .is_ok_and(|m| (m.dev(), m.ino()) == (rootfs.dev(), rootfs.ino()))
        });
        pid
    }

    fn status(&self) -> String {
        wait_for_file(&self.dir.join("status/app"))
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        if self.running()
            && let Ok(pid) = std::fs::read_to_string(self.dir.join("pid"))
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let start = Instant::now();
            while self.running() && start.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for _ in 0..16 {
            let mut below: Vec<PathBuf> = mount_points()
                .into_iter()
                .rev()
                .filter(|p| p.starts_with(&self.dir))
                .collect();
            if below.is_empty() {
                break;
            }
            below.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
            for point in &below {
                let _ = rustix::mount::mount_change(
                    point,
                    MountPropagationFlags::PRIVATE | MountPropagationFlags::REC,
                );
            }
            for point in &below {
                let _ = rustix::mount::unmount(point, UnmountFlags::DETACH);
            }
        }
        if mount_points().iter().any(|p| p.starts_with(&self.dir)) {
            // Never delete through a mount of the host's /dev or a volume.
            let _ = self.tmp.take().map(tempfile::TempDir::keep);
        }
    }
}

fn manifest(exec: &[&str]) -> PodManifest {
    PodManifest {
        interface_version: rukt_contract::INTERFACE_VERSION,
        revision: 0,
        uuid: UUID.into(),
        hostname: None,
        stage1: Stage1Info {
            flavor: "fly".into(),
            path: STAGE1.into(),
            interface_versions: vec![1],
        },
        apps: vec![App {
            name: "app".into(),
            image: ImageInfo {
                name: "busybox".into(),
                id: "sha256:00".into(),
                manifest: "sha256:11".into(),
                layers: vec![],
            },
            exec: exec.iter().map(|s| s.to_string()).collect(),
            working_dir: "/".into(),
            uid: 0,
            gid: 0,
            supplementary_gids: vec![],
            environment: vec![],
            readonly_rootfs: false,
            mounts: vec![],
            resources: Default::default(),
            capabilities: rukt_contract::isolation::default_capabilities(),
            seccomp: None,
            oom_score_adj: None,
            log_file: None,
            security: Default::default(),
            stdin: false,
            stdin_once: false,
            stop_signal: None,
            tty: false,
        }],
        volumes: vec![],
        net: Default::default(),
        networks: vec![],
        cni_path: vec![],
        ports: vec![],
        dns: Default::default(),
        namespaces: Default::default(),
        resources: Default::default(),
        kvm: Default::default(),
        logs: Default::default(),
        sd_notify: Default::default(),
        sysctls: Default::default(),
        mutable: false,
        cgroup_parent: None,
        created: "2026-01-01T00:00:00Z".into(),
    }
}

/// Mount points of this process, in mount order (`\040`-style escapes
/// undone; the test paths have none but the rule is simple).
fn mount_points() -> Vec<PathBuf> {
    let data = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    data.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| {
            PathBuf::from(
                p.replace("\\040", " ")
                    .replace("\\011", "\t")
                    .replace("\\012", "\n")
                    .replace("\\134", "\\"),
            )
        })
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn wait_for_file(path: &Path) -> String {
    wait_until(&path.display().to_string(), || path.exists());
    std::fs::read_to_string(path).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn interface_versions_are_1_and_2() {
    let out = Command::new(STAGE1)
        .arg("interface-version")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "1\n2\n");
}

/// The app's exit code is run's; its status is recorded; gc unmounts what
/// run mounted below the root, but not the root, and can run again.
#[test]
fn run_exits_with_the_apps_code_and_gc_unmounts() {
    let pod = Pod::new(&["/bin/sh", "-c", "echo hi; exit 3"]);
    let child = pod.spawn_run();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hi\n");
    assert_eq!(pod.status(), "3");
    assert_eq!(wait_for_file(&pod.dir.join("pid")), pid.to_string());
    assert!(pod.dir.join("ready").exists());

    let below = pod.mounts_below_rootfs();
    for dir in ["dev", "proc", "sys", "tmp"] {
        assert!(
            below.contains(&pod.rootfs().join(dir)),
            "{dir} not mounted: {below:?}"
        );
    }
    assert!(!pod.running());
    pod.gc();
    assert_eq!(pod.mounts_below_rootfs(), Vec::<PathBuf>::new());
    assert!(
        mount_points().contains(&pod.rootfs()),
        "gc unmounted the root"
    );
    pod.gc();
    // The host's trees are intact.
    assert!(Path::new("/dev/null").exists());
    assert!(mount_points().contains(&PathBuf::from("/sys")));
}

/// The PID the caller started is the app's; its working directory, ids,
/// environment and descriptors are the manifest's and nothing more.
#[test]
fn app_gets_exactly_its_identity_environment_and_descriptors() {
    let script = "pwd; echo $$; tr '\\0' '\\n' < /proc/$$/environ; \
                  grep -E '^(Uid|Gid|Groups):' /proc/$$/status; ls /proc/$$/fd; touch /tmp/ok";
    let mut pod = Pod::new(&["sh", "-c", script]);
    let app = pod.app();
    app.uid = 65534;
    app.gid = 65534;
    app.supplementary_gids = vec![1234, 5678];
    app.working_dir = "/work".into();
    app.environment = vec!["GREETING=hello world".into()];
    let child = pod.spawn_run();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let lock_fd = pod.lock_fd.get();
    let expected = format!(
        "/work\n{pid}\nGREETING=hello world\nPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         Uid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nGroups:\t1234 5678 \n"
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let (head, fd_lines) = lines.split_at(lines.len().saturating_sub(4));
    assert_eq!(format!("{}\n", head.join("\n")), expected, "{stdout}");
    // `ls` sorts names as strings ("12" before "2"): compare the numbers.
    let mut fds: Vec<i32> = fd_lines.iter().map(|l| l.parse().unwrap()).collect();
    fds.sort_unstable();
    assert_eq!(fds, [0, 1, 2, lock_fd], "{stdout}");
    assert_eq!(pod.status(), "0");
    pod.gc();
    assert_eq!(pod.mounts_below_rootfs(), Vec::<PathBuf>::new());
}

/// Host, empty and file volumes land on their targets inside the root,
/// read-only where asked.
#[test]
fn volumes_are_bound_inside_the_root() {
    let script = "echo $$ > /data/out && cat /ro/in && ! touch /ro/new 2>/dev/null \
                  && echo s > /scratch/s && cat /etc/injected";
    let mut pod = Pod::new(&["/bin/sh", "-c", script]);
    let (data, ro, file) = (
        pod.host.join("data"),
        pod.host.join("ro"),
        pod.host.join("injected"),
    );
    std::fs::create_dir(&data).unwrap();
    std::fs::create_dir(&ro).unwrap();
    std::fs::write(ro.join("in"), "ro-content\n").unwrap();
    std::fs::write(&file, "injected\n").unwrap();
    std::fs::create_dir_all(pod.dir.join("volumes/scratch")).unwrap();
    pod.manifest.volumes = vec![
        host_volume("data", &data, false),
        host_volume("ro", &ro, true),
        host_volume("file", &file, true),
        Volume {
            name: "scratch".into(),
            kind: VolumeKind::Empty,
            read_only: false,
            recursive: None,
            propagation: None,
        },
    ];
    pod.app().mounts = [
        ("data", "/data"),
        ("ro", "/ro"),
        ("file", "/etc/injected"),
        ("scratch", "/scratch"),
    ]
    .iter()
    .map(|(volume, target)| Mount {
        volume: volume.to_string(),
        target: target.to_string(),
    })
    .collect();
    let child = pod.spawn_run();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "ro-content\ninjected\n");
    assert_eq!(
        std::fs::read_to_string(data.join("out")).unwrap(),
        format!("{pid}\n")
    );
    assert!(!ro.join("new").exists());
    assert!(pod.dir.join("volumes/scratch/s").exists());
    pod.gc();
    assert_eq!(pod.mounts_below_rootfs(), Vec::<PathBuf>::new());
    // The host's files are still there after gc.
    assert!(ro.join("in").exists() && file.exists());
}

fn host_volume(name: &str, source: &Path, read_only: bool) -> Volume {
    Volume {
        name: name.into(),
        kind: VolumeKind::Host {
            source: source.into(),
        },
        read_only,
        recursive: None,
        propagation: None,
    }
}

/// A target through a symlink that points out of the root is resolved
/// inside it (here: nowhere, so run fails), never on the host; the mounts
/// already made are undone.
#[test]
fn symlinked_targets_stay_inside_the_root() {
    let mut pod = Pod::new(&["/bin/sh", "-c", "exit 0"]);
    let data = pod.host.join("data");
    std::fs::create_dir(&data).unwrap();
    symlink(&pod.host, pod.rootfs().join("escape")).unwrap();
    pod.manifest.volumes = vec![host_volume("data", &data, false)];
    pod.app().mounts = vec![Mount {
        volume: "data".into(),
        target: "/escape/target".into(),
    }];
    let out = pod.run();
    assert_eq!(out.status.code(), Some(254));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("rukt-stage1-fly: cannot mount volume \"data\" on /escape/target"),
        "{stderr}"
    );
    assert!(!pod.host.join("target").exists());
    assert_eq!(pod.mounts_below_rootfs(), Vec::<PathBuf>::new());
}

#[test]
fn missing_host_source_fails_and_undoes_the_mounts() {
    let mut pod = Pod::new(&["/bin/sh", "-c", "exit 0"]);
    let missing = pod.host.join("missing");
    pod.manifest.volumes = vec![host_volume("data", &missing, false)];
    pod.app().mounts = vec![Mount {
        volume: "data".into(),
        target: "/data".into(),
    }];
    let out = pod.run();
    assert_eq!(out.status.code(), Some(254));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot open {}", missing.display())),
        "{stderr}"
    );
    assert_eq!(pod.mounts_below_rootfs(), Vec::<PathBuf>::new());
    assert!(!pod.dir.join("ready").exists());
}

/// An exec that fails is a stage1 failure (254), recorded as the status,
/// with the mounts undone (the app runs as root, so run can still do it).
#[test]
fn failed_exec_exits_254_and_undoes_the_mounts() {
    let pod = Pod::new(&["/nonexistent", "arg"]);
    let out = pod.run();
    assert_eq!(out.status.code(), Some(254));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("rukt-stage1-fly: cannot execute /nonexistent: "),
        "{stderr}"
    );
    assert_eq!(pod.status(), "254");
    assert_eq!(pod.mounts_below_rootfs(), Vec::<PathBuf>::new());
}

#[test]
fn more_than_one_app_is_refused() {
    let mut pod = Pod::new(&["/bin/sh", "-c", "exit 0"]);
    let mut second = pod.manifest.apps[0].clone();
    second.name = "second".into();
    pod.manifest.apps.push(second);
    let out = pod.run();
    assert_eq!(out.status.code(), Some(254));
    assert!(
        text(&out.stderr).contains("the fly stage1 runs one app per pod"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(pod.mounts_below_rootfs(), Vec::<PathBuf>::new());
}

/// stop asks with SIGTERM: the app dies of it, 143 is recorded, the lock
/// is released.
#[test]
fn stop_terminates_the_app() {
    let pod = Pod::new(&["sleep", "100"]);
    let mut child = pod.spawn_run();
    pod.wait_started();
    let out = pod.stage1(&["stop", "--timeout=5", UUID]);
    assert!(out.status.success(), "stop: {}", text(&out.stderr));
    assert!(!pod.running());
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}");
    assert_eq!(pod.status(), "143");
    // Stopping an exited pod succeeds and does nothing.
    let out = pod.stage1(&["stop", UUID]);
    assert!(out.status.success(), "stop: {}", text(&out.stderr));
    pod.gc();
    assert_eq!(pod.mounts_below_rootfs(), Vec::<PathBuf>::new());
}

/// enter runs commands in the running app's root with its identity, and
/// only in that app; after stop --force it refuses.
#[test]
fn enter_runs_commands_in_the_running_app() {
    let pod = Pod::new(&["sleep", "100"]);
    let mut child = pod.spawn_run();
    let pid = pod.wait_started().to_string();
    let pid_flag = format!("--pid={pid}");
    let enter = |pid_flag: &str, command: &[&str]| {
        let mut args = vec!["enter", pid_flag, "--app=app", UUID, "--"];
        args.extend(command);
        pod.stage1(&args)
    };

    let out = enter(&pid_flag, &["cat", "/etc/hostname-marker"]);
    assert!(out.status.success(), "enter: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), MARKER);
    let out = enter(&pid_flag, &["sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "enter: {}", text(&out.stderr));

    // A process that is not in the app's root.
    let me = format!("--pid={}", std::process::id());
    let out = enter(&me, &["true"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(text(&out.stderr).contains("is not running in app"));

    let out = pod.stage1(&["stop", "--force", UUID]);
    assert!(out.status.success(), "stop: {}", text(&out.stderr));
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    assert_eq!(pod.status(), "137");
    let out = enter(&pid_flag, &["true"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(text(&out.stderr).contains("pod is not running"));
    pod.gc();
}

/// On a host whose mounts are all shared (`/` is, under systemd), neither a
/// run nor gc touches the host's own mounts: run's copies of `/dev`, `/proc`
/// and `/sys` are slaves, and gc makes what it unmounts private first, even
/// a recursive bind of a shared `/sys` that is still a peer of the host's
/// (where a plain `umount -l` would unmount the host's `/sys/fs/cgroup/*`).
/// In a mount namespace of its own, so the host's propagation is left as is.
#[test]
fn gc_never_propagates_unmounts_to_a_shared_host() {
    let pod = Pod::new(&["/bin/sh", "-c", "exit 0"]);
    pod.write_manifest();
    let script = r#"
        set -e
        host() { awk '$5 ~ "^/(dev|proc|sys)(/|$)"' /proc/self/mountinfo | wc -l; }
        below() { grep -c " $R/" /proc/self/mountinfo || true; }
        mount --make-rshared /
        before=$(host)
        (exec 9<.; flock -x 9; RUKT_LOCK_FD=9 exec "$B" run "$UUID")
        "$B" gc "$UUID"
        after_run=$(host)
        mount --rbind /sys "$R/sys"
        "$B" gc "$UUID"
        echo "$before $after_run $(host) $(below)"
    "#;
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "unchanged", "sh", "-c", script])
        .current_dir(&pod.dir)
        .env("B", STAGE1)
        .env("UUID", UUID)
        .env("R", pod.rootfs())
        .output()
        .unwrap();
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let counts: Vec<usize> = text(&out.stdout)
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let (before, after_run, after_stale, below) = (counts[0], counts[1], counts[2], counts[3]);
    assert!(before >= 3, "{counts:?}");
    assert_eq!((after_run, after_stale, below), (before, before, 0));
}

/// What a kubelet needs of fly (rkt's `recursive=true` and a shared volume): under a shared
/// `/` (in a mount namespace of the test's own), an app mounts a tmpfs and a bind below a
/// `propagation=shared` host volume; both appear at the host path, stay after the pod exits
/// and after gc, and the host's own submount of the source is never unmounted. With the
/// default options nothing the app mounts reaches the host. `recursive=true` shows the
/// host's submount inside the pod, the default does not.
#[test]
fn shared_volumes_propagate_the_apps_mounts_to_the_host_and_gc_keeps_them() {
    let script = r#"
        set -e
        mount --make-rshared /
        mount -t tmpfs pre "$H/pre"
        echo host-sub > "$H/pre/marker"
        (exec 9<.; flock -x 9; RUKT_LOCK_FD=9 exec "$B" run "$UUID")
        [ -f "$H/x/f" ] && echo exit:tmpfs
        mountpoint -q "$H/b" && echo exit:bind
        "$B" gc "$UUID"
        [ -f "$H/x/f" ] && echo gc:tmpfs
        mountpoint -q "$H/b" && echo gc:bind
        mountpoint -q "$H/pre" && echo gc:pre
        echo done
    "#;
    let app = "cat /h/pre/marker 2>/dev/null || echo no-submount; \
               mount -t tmpfs t /h/x && echo hi > /h/x/f && mount --bind /h/x /h/b && echo app:mounted";
    let run = |recursive: Option<bool>, propagation: Option<Propagation>| {
        let mut pod = Pod::new(&["/bin/sh", "-c", app]);
        for d in ["kube/x", "kube/b", "kube/pre"] {
            std::fs::create_dir_all(pod.host.join(d)).unwrap();
        }
        let mut volume = host_volume("kube", &pod.host.join("kube"), false);
        volume.recursive = recursive;
        volume.propagation = propagation;
        pod.manifest.volumes = vec![volume];
        pod.app().mounts = vec![Mount {
            volume: "kube".into(),
            target: "/h".into(),
        }];
        pod.write_manifest();
        let out = Command::new("unshare")
            .args(["-m", "--propagation", "unchanged", "sh", "-c", script])
            .current_dir(&pod.dir)
            .env("B", STAGE1)
            .env("UUID", UUID)
            .env("H", pod.host.join("kube"))
            .output()
            .unwrap();
        assert!(out.status.success(), "stderr: {}", text(&out.stderr));
        text(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let shared = run(Some(true), Some(Propagation::Shared));
    assert_eq!(
        shared,
        [
            "host-sub",
            "app:mounted",
            "exit:tmpfs",
            "exit:bind",
            "gc:tmpfs",
            "gc:bind",
            "gc:pre",
            "done"
        ]
    );
    let default = run(None, None);
    assert_eq!(default, ["no-submount", "app:mounted", "gc:pre", "done"]);
}
