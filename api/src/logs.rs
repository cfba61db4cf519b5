//! GetLogs: an app's lines through `rukt_pods::logs_with` (the CRI log
//! files, their rotation, tail and time window), on a blocking thread that
//! sends batches to the client. Following ends when the pod is no longer
//! running (learnt without a lock) or the client has gone.

use std::time::Duration;

use rukt_contract::logfmt::Stream;
use rukt_pods::{LogLine, LogQuery, LogsError, Pod, Pods, State};
use rukt_proto::v1 as pb;
use tokio::sync::mpsc;
use tonic::Status;

/// Lines per message at most.
const BATCH: usize = 256;

/// Checks a request and turns it into the pods library's query.
pub fn query(r: &pb::GetLogsRequest) -> Result<LogQuery, Status> {
    if r.lines < 0 || r.since_time < 0 || r.until_time < 0 {
        return Err(Status::invalid_argument(
            "lines and times must not be negative",
        ));
    }
    if r.until_time != 0 && r.since_time >= r.until_time {
        return Err(Status::invalid_argument(
            "since_time is not before until_time",
        ));
    }
    let time = |ns: i64| (ns > 0).then(|| Duration::from_nanos(ns as u64));
    Ok(LogQuery {
        app: (!r.app_name.is_empty()).then(|| r.app_name.clone()),
        follow: r.follow,
        since: time(r.since_time),
        until: time(r.until_time),
        tail: (r.lines > 0).then_some(r.lines as usize),
    })
}

/// A pod without a `logs/` directory is answered here, without asking its
/// stage1 binary whether it keeps logs (the pods library would probe it).
pub fn check_kept(pod: &Pod) -> Result<(), Status> {
    if pod.path.join(rukt_contract::LOGS_DIR).is_dir() {
        return Ok(());
    }
    let flavor = rukt_pods::inspect::read_nofollow(&pod.path.join(rukt_contract::POD_MANIFEST))
        .ok()
        .and_then(|d| rukt_contract::PodManifest::from_json(&d).ok())
        .map(|m| m.stage1.flavor)
        .unwrap_or_default();
    Err(Status::failed_precondition(format!(
        "pod {} has no logs: it has not run yet, or its stage1 ({flavor}) keeps none",
        pod.uuid
    )))
}

fn line(l: &LogLine) -> pb::LogLine {
    pb::LogLine {
        app: l.app.clone(),
        time: l.time.as_nanos() as i64,
        stream: match l.stream {
            Stream::Stdout => pb::LogStream::Stdout,
            Stream::Stderr => pb::LogStream::Stderr,
        } as i32,
        message: l.message.clone(),
        partial: !l.full,
    }
}

fn status(e: LogsError) -> Status {
    match e {
        LogsError::Pod(e) => crate::pods::pod_status(e),
        e @ LogsError::UnknownApp { .. } => Status::not_found(e.to_string()),
        e @ (LogsError::NotKept { .. } | LogsError::NotYet { .. }) => {
            Status::failed_precondition(e.to_string())
        }
        e => Status::internal(e.to_string()),
    }
}

/// Reads and sends (blocking; run it on a blocking thread).
pub fn send(
    pods: &Pods,
    pod: &Pod,
    q: &LogQuery,
    tx: &mpsc::Sender<Result<pb::GetLogsResponse, Status>>,
) {
    let gone = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
    let flush = |batch: &mut Vec<pb::LogLine>| -> std::io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let lines = std::mem::take(batch);
        tx.blocking_send(Ok(pb::GetLogsResponse { lines }))
            .map_err(|_| gone())
    };
    // Lines come one by one; a follower's are sent at each poll, when the
    // state is asked again, so a batch never waits for more.
    let pending = std::cell::RefCell::new(Vec::new());
    let mut state = |p: &Pod| {
        if flush(&mut pending.borrow_mut()).is_err() || tx.is_closed() {
            return State::Exited;
        }
        crate::pods::state_now(p)
    };
    let mut sink = |l: &LogLine| -> std::io::Result<()> {
        let mut b = pending.borrow_mut();
        b.push(line(l));
        if b.len() >= BATCH {
            flush(&mut b)?;
        }
        Ok(())
    };
    let result = rukt_pods::logs_with(pods, pod, q, &mut state, &mut sink);
    let mut batch = pending.take();
    match result {
        Ok(()) => {
            let _ = flush(&mut batch);
        }
        Err(LogsError::Sink(_)) => {}
        Err(e) => {
            let _ = flush(&mut batch);
            let _ = tx.blocking_send(Err(status(e)));
        }
    }
}
