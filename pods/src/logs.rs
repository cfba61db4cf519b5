//! `rukt logs`: reading the per-app log files a stage1 wrote
//! (`logs/<app>.log` and its rotated `.1`, `.2`, …; CRI entries, see
//! `rukt_contract::logfmt`), selecting by app, time and count, and following
//! the live file until the pod exits. Pieces of a line (`P` entries) are
//! joined, so a caller gets whole lines. Logs stay until `rukt gc` removes
//! the pod.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

use rukt_contract::logfmt::{Entry, Stream};
use rukt_contract::{Feature, LOGS_DIR, PodManifest};

use crate::pod::{Pod, PodError, Pods};
use crate::stage1::Stage1;
use crate::state::State;

/// How long a follower waits for a change before it looks whether the pod
/// is still running (appends wake it at once: [`crate::logwatch`]).
const FOLLOW_RECHECK: Duration = Duration::from_millis(250);

/// What to read.
#[derive(Debug, Clone, Default)]
pub struct LogQuery {
    /// Only this app (every app, merged by time, when `None`).
    pub app: Option<String>,
    /// Keep reading until the pod exits.
    pub follow: bool,
    /// Only lines at or after this time (since the epoch).
    pub since: Option<Duration>,
    /// Only lines before this time.
    pub until: Option<Duration>,
    /// Only the last N lines (before following).
    pub tail: Option<usize>,
}

/// One whole line of an app's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The app.
    pub app: String,
    /// When its first piece was read (since the epoch).
    pub time: Duration,
    /// Its stream.
    pub stream: Stream,
    /// The line, without its newline.
    pub message: Vec<u8>,
    /// `false` when the app had not ended the line (yet).
    pub full: bool,
}

/// Why logs cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    /// The pod directory or manifest.
    #[error(transparent)]
    Pod(#[from] PodError),
    /// `--app` names no app of the pod.
    #[error("pod {uuid} has no app {app:?} (its apps: {apps})")]
    UnknownApp {
        /// The pod.
        uuid: crate::PodUuid,
        /// What was asked.
        app: String,
        /// What it has.
        apps: String,
    },
    /// The engine keeps no logs (fly).
    #[error("pod {uuid} runs on the {flavor} stage1, which keeps no logs{hint}")]
    NotKept {
        /// The pod.
        uuid: crate::PodUuid,
        /// Its engine.
        flavor: String,
        /// Why, for fly.
        hint: &'static str,
    },
    /// The pod has not run yet.
    #[error("pod {uuid} has no logs yet (state {state}); they appear once it runs")]
    NotYet {
        /// The pod.
        uuid: crate::PodUuid,
        /// Its state.
        state: &'static str,
    },
    /// A line is not a log entry.
    #[error("{}: line {line}: {source}", path.display())]
    Garbled {
        /// The file.
        path: PathBuf,
        /// Its 1-based line number.
        line: u64,
        /// What is wrong.
        source: rukt_contract::logfmt::BadLine,
    },
    /// Reading a file failed.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The caller's sink failed (a closed stdout).
    #[error("cannot write the logs")]
    Sink(#[source] std::io::Error),
}

/// Reads `pod`'s logs as `query` asks, giving each line to `sink` in time
/// order (per app when following several).
pub fn logs(
    pods: &Pods,
    pod: &Pod,
    query: &LogQuery,
    sink: &mut dyn FnMut(&LogLine) -> std::io::Result<()>,
) -> Result<(), LogsError> {
    logs_with(pods, pod, query, &mut Pod::state, sink)
}

/// [`logs`] with the caller's way of learning a pod's state (the API
/// service's never probes a lock; it also says "exited" once its client
/// has gone, which ends a follow).
pub fn logs_with(
    pods: &Pods,
    pod: &Pod,
    query: &LogQuery,
    state: &mut dyn FnMut(&Pod) -> State,
    sink: &mut dyn FnMut(&LogLine) -> std::io::Result<()>,
) -> Result<(), LogsError> {
    let manifest = pod.manifest()?;
    let apps = selected_apps(pod, &manifest, query)?;
    let dir = pod.path.join(LOGS_DIR);
    let own_file = |a: &String| manifest.app(a).and_then(|a| a.log_file.clone());
    if !dir.is_dir() && !apps.iter().any(|a| own_file(a).is_some()) {
        return Err(no_logs(pod, &manifest, state(pod)));
    }
    // An app with a log file of its own (rukt cri's, kubelet's path) is
    // read there.
    let mut readers: Vec<AppReader> = apps
        .iter()
        .map(|a| {
            AppReader::new(
                own_file(a).unwrap_or_else(|| dir.join(format!("{a}.log"))),
                a,
            )
        })
        .collect();
    let mut lines = Vec::new();
    for r in &mut readers {
        r.read_history(&mut lines)?;
        if !query.follow {
            r.flush(&mut lines);
        }
    }
    lines.sort_by_key(|l: &LogLine| l.time);
    let selected: Vec<&LogLine> = lines.iter().filter(|l| in_window(query, l.time)).collect();
    let skip = query.tail.map_or(0, |n| selected.len().saturating_sub(n));
    for l in &selected[skip..] {
        sink(l).map_err(LogsError::Sink)?;
    }
    if !query.follow {
        return Ok(());
    }
    let watch = crate::logwatch::LogWatch::new(&dir);
    loop {
        let running = pods
            .refind(pod.uuid)
            .is_some_and(|p| state(&p) == State::Running);
        let mut new = Vec::new();
        for r in &mut readers {
            r.read_more(&mut new)?;
        }
        new.sort_by_key(|l| l.time);
        for l in new.iter().filter(|l| in_window(query, l.time)) {
            sink(l).map_err(LogsError::Sink)?;
        }
        if !running {
            // Its last output was written before its lock was released.
            let mut last = Vec::new();
            readers.iter_mut().for_each(|r| r.flush(&mut last));
            for l in last.iter().filter(|l| in_window(query, l.time)) {
                sink(l).map_err(LogsError::Sink)?;
            }
            return Ok(());
        }
        if query.until.is_some_and(|u| now() >= u) {
            return Ok(());
        }
        watch.wait(FOLLOW_RECHECK);
    }
}

fn now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

fn in_window(q: &LogQuery, t: Duration) -> bool {
    q.since.is_none_or(|s| t >= s) && q.until.is_none_or(|u| t < u)
}

fn selected_apps(pod: &Pod, m: &PodManifest, q: &LogQuery) -> Result<Vec<String>, LogsError> {
    let names: Vec<String> = m.apps.iter().map(|a| a.name.clone()).collect();
    match &q.app {
        None => Ok(names),
        Some(app) if names.contains(app) => Ok(vec![app.clone()]),
        Some(app) => Err(LogsError::UnknownApp {
            uuid: pod.uuid,
            app: app.clone(),
            apps: names.join(", "),
        }),
    }
}

fn no_logs(pod: &Pod, m: &PodManifest, state: State) -> LogsError {
    let keeps =
        Stage1::for_pod(pod, m).map_or(m.stage1.flavor != "fly", |s| s.enforces(Feature::AppLogs));
    if !keeps {
        let hint = if m.stage1.flavor == "fly" {
            ": its app writes straight to the descriptors rukt run was given \
             (that is fly's point); its output is wherever those went"
        } else {
            ""
        };
        return LogsError::NotKept {
            uuid: pod.uuid,
            flavor: m.stage1.flavor.clone(),
            hint,
        };
    }
    LogsError::NotYet {
        uuid: pod.uuid,
        state: state.name(),
    }
}

/// One app's files and where reading stopped in the live one.
struct AppReader {
    app: String,
    live: PathBuf,
    file: Option<(File, u64)>,
    /// Bytes after the last newline read (an entry being written).
    rest: Vec<u8>,
    /// Line number of the next line, for errors.
    line: u64,
    /// Pieces of a line per stream (stdout, stderr).
    pending: [Option<LogLine>; 2],
}

impl AppReader {
    fn new(live: PathBuf, app: &str) -> AppReader {
        AppReader {
            app: app.to_string(),
            live,
            file: None,
            rest: Vec::new(),
            line: 1,
            pending: [None, None],
        }
    }

    /// The rotated files, oldest first, then the live one (opened, kept).
    fn read_history(&mut self, out: &mut Vec<LogLine>) -> Result<(), LogsError> {
        let mut rotated = Vec::new();
        for n in 1.. {
            let mut p = self.live.clone().into_os_string();
            p.push(format!(".{n}"));
            let p = PathBuf::from(p);
            if !p.exists() {
                break;
            }
            rotated.push(p);
        }
        for p in rotated.iter().rev() {
            let data = std::fs::read(p).map_err(|source| LogsError::Io {
                path: p.clone(),
                source,
            })?;
            self.line = 1;
            self.parse(p.clone(), &data, out)?;
        }
        self.line = 1;
        self.read_more(out)
    }

    /// What was appended to the live file since the last read; follows a
    /// rotation to the new live file.
    fn read_more(&mut self, out: &mut Vec<LogLine>) -> Result<(), LogsError> {
        loop {
            if self.file.is_none() {
                match File::open(&self.live) {
                    Ok(f) => self.file = Some((f, 0)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                    Err(source) => {
                        return Err(LogsError::Io {
                            path: self.live.clone(),
                            source,
                        });
                    }
                }
            }
            let (f, inode) = self.file.as_mut().expect("opened above");
            let io = |source| LogsError::Io {
                path: self.live.clone(),
                source,
            };
            if *inode == 0 {
                *inode = f.metadata().map_err(io)?.ino();
            }
            let inode = *inode;
            let mut data = std::mem::take(&mut self.rest);
            f.read_to_end(&mut data).map_err(io)?;
            let keep = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            self.rest = data.split_off(keep);
            let live = self.live.clone();
            self.parse(live, &data, out)?;
            // Rotated meanwhile: the new live file is read from its start.
            let now = std::fs::metadata(&self.live).map(|m| m.ino()).ok();
            if now.is_some() && now != Some(inode) {
                self.file = None;
                self.rest.clear();
                self.line = 1;
                continue;
            }
            return Ok(());
        }
    }

    fn parse(
        &mut self,
        path: PathBuf,
        data: &[u8],
        out: &mut Vec<LogLine>,
    ) -> Result<(), LogsError> {
        let mut lines = data.split(|b| *b == b'\n').peekable();
        while let Some(raw) = lines.next() {
            if raw.is_empty() && lines.peek().is_none() {
                break;
            }
            let e = Entry::parse(raw).map_err(|source| LogsError::Garbled {
                path: path.clone(),
                line: self.line,
                source,
            })?;
            self.line += 1;
            let slot = &mut self.pending[e.stream as usize];
            let line = slot.get_or_insert_with(|| LogLine {
                app: self.app.clone(),
                time: e.time,
                stream: e.stream,
                message: Vec::new(),
                full: false,
            });
            line.message.extend_from_slice(e.message);
            if e.full {
                let mut l = slot.take().expect("inserted above");
                l.full = true;
                out.push(l);
            }
        }
        Ok(())
    }

    /// The pieces of a line the app had not ended when it stopped.
    fn flush(&mut self, out: &mut Vec<LogLine>) {
        out.extend(self.pending.iter_mut().filter_map(Option::take));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_files_first_pieces_joined_and_rotation_followed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.log.2"), "1970-01-01T00:00:01Z stdout F one\n").unwrap();
        std::fs::write(
            d.join("a.log.1"),
            "1970-01-01T00:00:02Z stdout P tw\n1970-01-01T00:00:02Z stderr F err\n",
        )
        .unwrap();
        std::fs::write(
            d.join("a.log"),
            "1970-01-01T00:00:03Z stdout F o\n1970-01-01T00:00:04Z std",
        )
        .unwrap();
        let mut r = AppReader::new(d.join("a.log"), "a");
        let mut got = Vec::new();
        r.read_history(&mut got).unwrap();
        let text: Vec<(Stream, String)> = got
            .iter()
            .map(|l| (l.stream, String::from_utf8_lossy(&l.message).into_owned()))
            .collect();
        assert_eq!(
            text,
            [
                (Stream::Stdout, "one".into()),
                (Stream::Stderr, "err".into()),
                (Stream::Stdout, "two".into()),
            ]
        );
        assert_eq!(
            got[2].time,
            Duration::from_secs(2),
            "a line's time is its first piece's"
        );
        // The half-written entry is completed, then the file rotated away.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(d.join("a.log"))
            .unwrap();
        std::io::Write::write_all(&mut f, b"out F four\n").unwrap();
        std::fs::rename(d.join("a.log"), d.join("a.log.1")).unwrap();
        std::fs::write(d.join("a.log"), "1970-01-01T00:00:05Z stdout F five\n").unwrap();
        let mut more = Vec::new();
        r.read_more(&mut more).unwrap();
        let msgs: Vec<&[u8]> = more.iter().map(|l| l.message.as_slice()).collect();
        assert_eq!(msgs, [&b"four"[..], b"five"]);
    }

    #[test]
    fn a_garbled_line_names_its_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.log"),
            "1970-01-01T00:00:01Z stdout F ok\nnonsense\n",
        )
        .unwrap();
        let err = AppReader::new(dir.path().join("a.log"), "a")
            .read_history(&mut Vec::new())
            .unwrap_err();
        assert!(
            err.to_string()
                .ends_with("a.log: line 2: not a CRI log line (bad timestamp)"),
            "{err}"
        );
    }
}
