//! One journal line: [`Event`], its fields in the order of the format (an
//! absent optional field is left out, never `null`), and [`EventType`],
//! rkt's event names.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// What happened (rkt's event names, lowercase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// A pod directory and manifest were created (`prepare`, `run`).
    PodPrepared,
    /// Preparing a pod failed after its UUID was chosen; nothing is left.
    PodPrepareAborted,
    /// Every app of the pod has started.
    PodStarted,
    /// The pod is over (its supervisor ends, or its stage1 failed).
    PodExited,
    /// gc (or `rm`) removed the pod.
    PodGarbageCollected,
    /// One app started.
    AppStarted,
    /// One app exited.
    AppExited,
    /// An image was stored.
    ImageImported,
    /// An image's name was removed (`image rm`, `image gc`).
    ImageRemoved,
}

impl EventType {
    /// Every type, in the order of the format.
    pub const ALL: [EventType; 9] = [
        EventType::PodPrepared,
        EventType::PodPrepareAborted,
        EventType::PodStarted,
        EventType::PodExited,
        EventType::PodGarbageCollected,
        EventType::AppStarted,
        EventType::AppExited,
        EventType::ImageImported,
        EventType::ImageRemoved,
    ];

    /// Its name in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PodPrepared => "pod_prepared",
            EventType::PodPrepareAborted => "pod_prepare_aborted",
            EventType::PodStarted => "pod_started",
            EventType::PodExited => "pod_exited",
            EventType::PodGarbageCollected => "pod_garbage_collected",
            EventType::AppStarted => "app_started",
            EventType::AppExited => "app_exited",
            EventType::ImageImported => "image_imported",
            EventType::ImageRemoved => "image_removed",
        }
    }

    /// Whether its `id` is an image's (else a pod's).
    pub fn is_image(self) -> bool {
        matches!(self, EventType::ImageImported | EventType::ImageRemoved)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no event type.
#[derive(Debug, thiserror::Error)]
#[error("unknown event type {0:?}")]
pub struct UnknownType(pub String);

impl FromStr for EventType {
    type Err = UnknownType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownType(s.to_string()))
    }
}

/// One event, as one journal line. [`Event::new`] and the `with_*`
/// methods make one to append; the journal fills in `seq` and the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// 1 + the previous event's.
    pub seq: u64,
    /// RFC 3339, UTC, nanoseconds.
    pub time: String,
    /// The same instant in nanoseconds since the epoch.
    #[serde(default)]
    pub time_ns: u64,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The pod's UUID (pod and app events) or the image's id (`sha256:…`).
    pub id: String,
    /// The app's name (app events) or the image's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The app (app events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// The image of the app, or another image the event concerns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The exit code (`app_exited`, `pod_exited`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Whether the app was killed by the OOM killer (`app_exited`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom: Option<bool>,
    /// Anything else (`stage1`, `reason`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

impl Event {
    /// An event of `kind` about `id`, to append (no seq or time yet).
    pub fn new(kind: EventType, id: impl Into<String>) -> Event {
        Event {
            seq: 0,
            time: String::new(),
            time_ns: 0,
            kind,
            id: id.into(),
            name: None,
            app: None,
            image: None,
            exit_code: None,
            oom: None,
            attrs: BTreeMap::new(),
        }
    }

    /// With `name`.
    pub fn with_name(mut self, name: impl Into<String>) -> Event {
        self.name = Some(name.into());
        self
    }

    /// With the app `app` (also its `name`, as the format says).
    pub fn with_app(mut self, app: impl Into<String>) -> Event {
        let app = app.into();
        self.name = Some(app.clone());
        self.app = Some(app);
        self
    }

    /// With `image`.
    pub fn with_image(mut self, image: impl Into<String>) -> Event {
        self.image = Some(image.into());
        self
    }

    /// With an exit code.
    pub fn with_exit_code(mut self, code: i32) -> Event {
        self.exit_code = Some(code);
        self
    }

    /// With whether the OOM killer ended it.
    pub fn with_oom(mut self, oom: bool) -> Event {
        self.oom = Some(oom);
        self
    }

    /// With the attribute `key=value`.
    pub fn with_attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Event {
        self.attrs.insert(key.into(), value.into());
        self
    }

    /// Stamps it with `at`.
    pub(crate) fn stamp(&mut self, at: SystemTime) {
        let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        self.time_ns = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX);
        self.time = humantime::format_rfc3339_nanos(at).to_string();
    }

    /// Its time.
    pub fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.time_ns)
    }

    /// Parses one journal line (without its `\n`): JSON with at least
    /// `seq`, `time`, `type` and `id`; `time_ns` is taken from `time` when
    /// it is missing.
    pub fn from_line(line: &[u8]) -> Option<Event> {
        let mut e: Event = serde_json::from_slice(line).ok()?;
        if e.time_ns == 0 {
            let t = humantime::parse_rfc3339_weak(&e.time).ok()?;
            e.time_ns = u64::try_from(t.duration_since(UNIX_EPOCH).ok()?.as_nanos()).ok()?;
        }
        Some(e)
    }

    /// Its journal line, `\n`-terminated.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("an event serialises");
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_in_the_format_order_and_absent_ones_left_out() {
        let mut e = Event::new(EventType::AppExited, "0f1e")
            .with_app("web")
            .with_exit_code(3)
            .with_oom(false)
            .with_attr("stage1", "nspawn");
        e.seq = 7;
        e.stamp(UNIX_EPOCH + Duration::new(1_800_000_000, 5));
        let line = String::from_utf8(e.to_line()).unwrap();
        assert_eq!(
            line,
            "{\"seq\":7,\"time\":\"2027-01-15T08:00:00.000000005Z\",\"time_ns\":1800000000000000005,\
             \"type\":\"app_exited\",\"id\":\"0f1e\",\"name\":\"web\",\"app\":\"web\",\
             \"exit_code\":3,\"oom\":false,\"attrs\":{\"stage1\":\"nspawn\"}}\n"
        );
        assert_eq!(Event::from_line(line.trim_end().as_bytes()), Some(e));
    }

    #[test]
    fn a_line_needs_seq_time_type_and_id() {
        let ok = br#"{"seq":1,"time":"2026-12-01T14:00:00.5Z","type":"pod_started","id":"x"}"#;
        let e = Event::from_line(ok).unwrap();
        assert_eq!(e.time_ns, 1_796_133_600_500_000_000);
        for bad in [
            &br#"{"time":"2026-12-01T14:00:00Z","type":"pod_started","id":"x"}"#[..],
            br#"{"seq":1,"type":"pod_started","id":"x"}"#,
            br#"{"seq":1,"time":"2026-12-01T14:00:00Z","type":"no_such","id":"x"}"#,
            br#"{"seq":1,"time":"2026-12-01T14:00:00Z","type":"pod_started"}"#,
            br#"{"seq":1,"time":"2026-12-"#,
        ] {
            assert_eq!(
                Event::from_line(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
            assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{t}\""));
        }
        assert!("pod-started".parse::<EventType>().is_err());
    }
}
