//! Lock-free, read-only inspection of pods, for long-running readers such as
//! the API service. Unlike [`Pod::state`] it never takes a lock (not even
//! the shared probe, which can make a concurrent `gc` skip a pod): a pod
//! lock's holder is learnt from `/proc/locks`, files are opened
//! `O_RDONLY|O_NOFOLLOW|O_CLOEXEC`, and nothing is ever written. What
//! changes a pod's files also changes a [`Stamp`], so a caller can cache a
//! [`Snapshot`] and re-read it only when its stamp moved.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use rukt_contract::{NetworkResult, PodManifest};

use crate::pod::Pod;
use crate::state::{Dir, State};

/// The largest file this module reads (a pod manifest is a few KiB).
const MAX_READ: u64 = 16 << 20;

/// Reads a file without following a final symlink, at most 16 MiB.
pub fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(path)?;
    let mut data = Vec::new();
    f.take(MAX_READ).read_to_end(&mut data)?;
    Ok(data)
}

/// The exclusive `flock`s held on this machine (`/proc/locks`), by file:
/// a pod directory with one is running, preparing or being deleted. Shared
/// locks are left out: they are other readers' probes, not a state.
#[derive(Debug, Default, Clone)]
pub struct HeldLocks {
    /// (major, minor, inode) → holder PID.
    write: HashMap<(u32, u32, u64), i64>,
}

impl HeldLocks {
    /// Reads `/proc/locks`.
    pub fn read() -> io::Result<HeldLocks> {
        Ok(HeldLocks::parse(&std::fs::read_to_string("/proc/locks")?))
    }

    /// Parses `/proc/locks` text: `1: FLOCK  ADVISORY  WRITE 1234 fe:00:5678 0 EOF`
    /// (major and minor in hex, the inode in decimal; `->` lines are waiters).
    pub fn parse(text: &str) -> HeldLocks {
        let mut write = HashMap::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 || f[1] == "->" || f[1] != "FLOCK" || f[3] != "WRITE" {
                continue;
            }
            let mut id = f[5].split(':');
            let (Some(maj), Some(min), Some(ino)) = (id.next(), id.next(), id.next()) else {
                continue;
            };
            let (Ok(maj), Ok(min), Ok(ino)) = (
                u32::from_str_radix(maj, 16),
                u32::from_str_radix(min, 16),
                ino.parse::<u64>(),
            ) else {
                continue;
            };
            write.insert((maj, min, ino), f[4].parse().unwrap_or(-1));
        }
        HeldLocks { write }
    }

    /// The PID holding an exclusive lock on the file `dev`/`ino` (as
    /// `stat` gives them), if any.
    pub fn holder(&self, dev: u64, ino: u64) -> Option<i64> {
        let major = (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32;
        let minor = (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32;
        self.write.get(&(major, minor, ino)).copied()
    }
}

/// What identifies a version of a pod's files: the state directory, the
/// pod directory's identity and times (every file stage0 and stage1 write
/// there is renamed into place, which moves the directory's mtime), and
/// the `status/` directory's mtime (exit statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Where the pod was found.
    pub dir: Dir,
    /// The pod directory's device and inode (for [`HeldLocks::holder`]).
    pub dev: u64,
    /// The pod directory's inode.
    pub ino: u64,
    /// The pod directory's mtime and ctime, ns.
    pub mtime: i128,
    /// Its ctime (a move between state directories sets it).
    pub ctime: i128,
    /// `status/`'s mtime, ns (0 while it does not exist).
    pub status_mtime: i128,
}

fn ns(secs: i64, nsec: i64) -> i128 {
    i128::from(secs) * 1_000_000_000 + i128::from(nsec)
}

impl Stamp {
    /// Two `lstat`s: the pod directory and its `status/`.
    pub fn of(pod: &Pod) -> io::Result<Stamp> {
        let m = std::fs::symlink_metadata(&pod.path)?;
        if !m.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a directory",
            ));
        }
        let status_mtime = std::fs::symlink_metadata(pod.path.join(rukt_contract::STATUS_DIR))
            .map(|s| ns(s.mtime(), s.mtime_nsec()))
            .unwrap_or(0);
        Ok(Stamp {
            dir: pod.dir,
            dev: m.dev(),
            ino: m.ino(),
            mtime: ns(m.mtime(), m.mtime_nsec()),
            ctime: ns(m.ctime(), m.ctime_nsec()),
            status_mtime,
        })
    }

    /// The newest of its times, ns since the epoch.
    pub fn newest(&self) -> i128 {
        self.mtime.max(self.ctime).max(self.status_mtime)
    }

    /// The pod's state: its directory, and for the lockable ones whether
    /// an exclusive lock is held on it.
    pub fn state(&self, locks: &HeldLocks) -> State {
        let lockable = matches!(self.dir, Dir::Prepare | Dir::Run | Dir::ExitedGarbage);
        self.dir
            .state(lockable && locks.holder(self.dev, self.ino).is_some())
    }
}

/// One app's recorded end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppExit {
    /// The exit code (128+N for signal N).
    pub code: i32,
    /// Why, when stage1 knows (`oom-killed`).
    pub reason: Option<String>,
    /// When it was recorded.
    pub at: SystemTime,
}

/// What a pod's files say, read once per [`Stamp`].
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The stamp it was read at.
    pub stamp: Stamp,
    /// The manifest as stored (JSON).
    pub manifest_json: Option<Vec<u8>>,
    /// The manifest, parsed.
    pub manifest: Option<PodManifest>,
    /// Each manifest app's exit, when recorded (same order as its apps).
    pub exits: Vec<Option<AppExit>>,
    /// What each network gave the pod.
    pub networks: Vec<NetworkResult>,
    /// The stage1's main PID.
    pub pid: Option<u32>,
    /// The manifest's mtime.
    pub created: Option<SystemTime>,
    /// The pid file's mtime.
    pub started: Option<SystemTime>,
    /// The pod directory's ctime, once gc marked it.
    pub gc_marked: Option<SystemTime>,
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
}

impl Snapshot {
    /// Reads the pod's manifest, exit statuses, network record and times.
    /// Never fails: what cannot be read is left out.
    pub fn read(pod: &Pod, stamp: Stamp) -> Snapshot {
        let file = |rel: &str| read_nofollow(&pod.path.join(rel)).ok();
        let manifest_json = file(rukt_contract::POD_MANIFEST);
        let manifest = manifest_json
            .as_deref()
            .and_then(|d| PodManifest::from_json(d).ok());
        let exits = manifest
            .iter()
            .flat_map(|m| &m.apps)
            .map(|a| {
                let path = pod.path.join(rukt_contract::app_status(&a.name));
                let code = read_nofollow(&path)
                    .ok()
                    .and_then(|d| String::from_utf8_lossy(&d).trim().parse().ok())?;
                let reason = file(&rukt_contract::app_status_reason(&a.name))
                    .map(|d| String::from_utf8_lossy(&d).trim().to_string())
                    .filter(|s| !s.is_empty());
                Some(AppExit {
                    code,
                    reason,
                    at: mtime(&path).unwrap_or(SystemTime::UNIX_EPOCH),
                })
            })
            .collect();
        let gc_marked = matches!(pod.dir, Dir::ExitedGarbage | Dir::Garbage).then(|| {
            let secs = (stamp.ctime / 1_000_000_000).max(0) as u64;
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
        });
        Snapshot {
            stamp,
            manifest_json,
            manifest,
            exits,
            networks: file(rukt_contract::NET_INFO_FILE)
                .and_then(|d| NetworkResult::list_from_json(&d).ok())
                .unwrap_or_default(),
            pid: file(rukt_contract::PID_FILE)
                .and_then(|d| String::from_utf8_lossy(&d).trim().parse().ok()),
            created: mtime(&pod.path.join(rukt_contract::POD_MANIFEST)),
            started: mtime(&pod.path.join(rukt_contract::PID_FILE)),
            gc_marked,
        }
    }

    /// The pod's exit code as `rukt status` gives it: the app that failed
    /// first (non-zero, earliest recorded), else 0; `None` while any app's
    /// is unknown.
    pub fn exit_code(&self) -> Option<i32> {
        if self.exits.is_empty() || self.exits.iter().any(Option::is_none) {
            return None;
        }
        let first_failure = self
            .exits
            .iter()
            .flatten()
            .filter(|e| e.code != 0)
            .min_by_key(|e| e.at);
        Some(first_failure.map_or(0, |e| e.code))
    }
}

/// The cgroup (v2) of a process, from `/proc/<pid>/cgroup`'s `0::` line.
pub fn cgroup_of(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_locks_keeps_exclusive_flocks_only() {
        let text = "1: FLOCK  ADVISORY  WRITE 4242 fe:00:1234 0 EOF\n\
                    1: -> FLOCK  ADVISORY  WRITE 4343 fe:00:1234 0 EOF\n\
                    2: FLOCK  ADVISORY  READ 77 fe:00:999 0 EOF\n\
                    3: POSIX  ADVISORY  WRITE 88 fe:00:555 0 EOF\n\
                    4: FLOCK  ADVISORY  WRITE 99 103:0a:31 0 EOF\n\
                    garbage\n";
        let l = HeldLocks::parse(text);
        let dev = |maj: u64, min: u64| (maj << 8) | min;
        assert_eq!(l.holder(dev(0xfe, 0), 1234), Some(4242));
        assert_eq!(l.holder(dev(0xfe, 0), 999), None, "shared locks are probes");
        assert_eq!(
            l.holder(dev(0xfe, 0), 555),
            None,
            "posix locks are not pods'"
        );
        assert_eq!(l.holder(dev(0x103, 0x0a), 31), Some(99), "nvme's 259:10");
    }

    #[test]
    fn a_held_flock_is_seen_without_locking() {
        let dir = tempfile::tempdir().unwrap();
        let pod = Pod {
            uuid: "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9".parse().unwrap(),
            dir: Dir::Run,
            path: dir.path().to_path_buf(),
        };
        let stamp = Stamp::of(&pod).unwrap();
        assert_eq!(stamp.state(&HeldLocks::read().unwrap()), State::Exited);
        let f = std::fs::File::open(dir.path()).unwrap();
        let _held = rukt_sys::lock::FileLock::from_file(
            f,
            dir.path().to_path_buf(),
            rukt_sys::lock::LockMode::Exclusive,
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(stamp.state(&HeldLocks::read().unwrap()), State::Running);
    }
}
