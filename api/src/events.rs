//! ListenEvents: the journal replayed from a sequence number or a time,
//! then followed (polled every [`POLL`]) until `until_time`, the end of the
//! replay (`no_follow`) or the client's going away. Each message carries the
//! events of one read and the count of damaged lines skipped.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rukt_proto::v1 as pb;
use tokio::sync::mpsc;
use tonic::Status;

use rukt_events::{Entry, Event, Reader};

/// How often a follower looks for new lines (the delivery target is 50 ms).
const POLL: Duration = Duration::from_millis(20);

/// The journal's event names, as the API's enum.
fn event_type(name: &str) -> Option<pb::EventType> {
    Some(match name {
        "pod_prepared" => pb::EventType::PodPrepared,
        "pod_prepare_aborted" => pb::EventType::PodPrepareAborted,
        "pod_started" => pb::EventType::PodStarted,
        "pod_exited" => pb::EventType::PodExited,
        "pod_garbage_collected" => pb::EventType::PodGarbageCollected,
        "app_started" => pb::EventType::AppStarted,
        "app_exited" => pb::EventType::AppExited,
        "image_imported" => pb::EventType::ImageImported,
        "image_removed" => pb::EventType::ImageRemoved,
        _ => return None,
    })
}

fn to_proto(e: Event) -> pb::Event {
    pb::Event {
        seq: e.seq,
        r#type: event_type(e.kind.as_str()).unwrap_or(pb::EventType::Undefined) as i32,
        id: e.id,
        from: e.name.unwrap_or_default(),
        time: i64::try_from(e.time_ns).unwrap_or(i64::MAX),
        app: e.app.unwrap_or_default(),
        image: e.image.unwrap_or_default(),
        exit_code: e.exit_code,
        oom: e.oom.unwrap_or(false),
        data: e
            .attrs
            .into_iter()
            .map(|(key, value)| pb::KeyValue { key, value })
            .collect(),
    }
}

/// What one read of the journal gave: its events from `since_ns` on and
/// how many damaged lines it skipped.
fn read_batch(
    reader: &mut Reader,
    since_ns: u64,
) -> Result<(Vec<Event>, u64), rukt_events::JournalError> {
    let mut events = Vec::new();
    let mut damaged = 0;
    for entry in reader.read()? {
        match entry {
            Entry::Event(e) if e.time_ns >= since_ns => events.push(e),
            Entry::Event(_) => {}
            Entry::Damaged(d) => {
                tracing::warn!(
                    "damaged event journal line in {} at {}",
                    d.file.display(),
                    d.offset
                );
                damaged += 1;
            }
        }
    }
    Ok((events, damaged))
}

/// A checked filter.
pub struct Listen {
    filter: pb::EventFilter,
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

impl Listen {
    /// Checks a request's filter; a malformed one is INVALID_ARGUMENT.
    pub fn new(filter: Option<pb::EventFilter>) -> Result<Listen, Status> {
        let filter = filter.unwrap_or_default();
        for t in &filter.types {
            if !matches!(pb::EventType::try_from(*t), Ok(t) if t != pb::EventType::Undefined) {
                return Err(Status::invalid_argument(format!(
                    "{t} is not an event type"
                )));
            }
        }
        if filter.since_time < 0 || filter.until_time < 0 {
            return Err(Status::invalid_argument("times are ns since the epoch"));
        }
        if filter.until_time != 0 && filter.since_time >= filter.until_time {
            return Err(Status::invalid_argument(
                "since_time is not before until_time",
            ));
        }
        if filter.ids.iter().chain(&filter.names).any(String::is_empty) {
            return Err(Status::invalid_argument("a filter has an empty id or name"));
        }
        Ok(Listen { filter })
    }

    fn wanted(&self, e: &pb::Event) -> bool {
        let f = &self.filter;
        (f.types.is_empty() || f.types.contains(&e.r#type))
            && (f.ids.is_empty() || f.ids.contains(&e.id))
            && (f.names.is_empty() || f.names.contains(&e.from))
    }

    /// Streams the journal of the store at `store` into `tx` until done.
    pub async fn run(
        self,
        store: PathBuf,
        tx: mpsc::Sender<Result<pb::ListenEventsResponse, Status>>,
    ) {
        let f = &self.filter;
        let after = if f.since_seq == 0 && f.since_time == 0 {
            // Only what happens from now on.
            match rukt_events::last_seq(&store) {
                Ok(s) => s,
                Err(e) => {
                    let _ = tx
                        .send(Err(Status::internal(format!("event journal: {e}"))))
                        .await;
                    return;
                }
            }
        } else {
            f.since_seq
        };
        let mut reader = Reader::after(&store, after);
        let since_ns = f.since_time.max(0) as u64;
        let until = (f.until_time > 0).then_some(f.until_time);
        let mut replayed = false;
        loop {
            let (batch, damaged) = match read_batch(&mut reader, since_ns) {
                Ok(b) => b,
                Err(e) => {
                    let _ = tx
                        .send(Err(Status::internal(format!("event journal: {e}"))))
                        .await;
                    return;
                }
            };
            let mut events = Vec::new();
            let mut ended = false;
            for e in batch.into_iter().map(to_proto) {
                if until.is_some_and(|u| e.time >= u) {
                    ended = true;
                    break;
                }
                if self.wanted(&e) {
                    events.push(e);
                }
            }
            if (!events.is_empty() || damaged > 0)
                && tx
                    .send(Ok(pb::ListenEventsResponse {
                        events,
                        damaged_lines: damaged,
                    }))
                    .await
                    .is_err()
            {
                return;
            }
            if ended || (replayed && f.no_follow) || until.is_some_and(|u| now_ns() >= u) {
                return;
            }
            if f.no_follow {
                // One more read catches lines completed during the replay.
                replayed = true;
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = tx.closed() => return,
            }
        }
    }
}
