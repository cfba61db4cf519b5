//! One event-log record: a CEL-JSON record (`recnum`, `pcr`, `digests`,
//! `content_type`, `content`) whose content is rukt's event, with a
//! canonical string made from every field (`content.string`). The digest
//! measured into each bank is that bank's hash of the string, so editing
//! any field changes either the string or its agreement with the fields.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::alg::{HashAlg, hex};

/// `content_type` of rukt's records.
pub const CONTENT_TYPE: &str = "rukt";
/// The prefix (and version) of every canonical string.
const STRING_PREFIX: &str = "rukt:v1:";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// The log began; `pcr_start` holds the PCR's value then.
    LogStart,
    /// An image was fetched and verified against its digests.
    ImageVerified,
    /// A pod directory and manifest were created.
    PodPrepared,
    /// stage0 is about to exec the stage1 that runs the pod's apps.
    AppStarted,
    /// An app exited.
    AppExited,
    /// Every app of a pod exited.
    PodExited,
    /// A pod was garbage collected (removed).
    PodGc,
}

impl EventKind {
    /// The name in logs and tables.
    pub fn name(self) -> &'static str {
        match self {
            Self::LogStart => "log-start",
            Self::ImageVerified => "image-verified",
            Self::PodPrepared => "pod-prepared",
            Self::AppStarted => "app-started",
            Self::AppExited => "app-exited",
            Self::PodExited => "pod-exited",
            Self::PodGc => "pod-gc",
        }
    }
}

/// The structured fields of an event (everything but `event`, `boot_id`
/// and `time_ns`, which the log fills in).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fields {
    /// Pod UUID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// App name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// Image name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Image manifest digest (one per app for pod events, in app order).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_digests: Vec<String>,
    /// Image config digests (image IDs), as `image_digests`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_digests: Vec<String>,
    /// Layer digests (diff_ids) of the image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<String>,
    /// Digest of the pod manifest as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// The stage1 binary's path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage1: Option<String>,
    /// Digest of the stage1 binary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage1_digest: Option<String>,
    /// Digest of stage1's argv (NUL-terminated arguments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv_digest: Option<String>,
    /// An exit status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_status: Option<i32>,
    /// `log-start`: the PCR's value per bank when the log began.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub pcr_start: BTreeMap<String, String>,
    /// `log-start`: the log this one follows, archived (another boot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_log: Option<String>,
}

/// A record's `content`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// The canonical string; its hash is the measured digest.
    pub string: String,
    /// What happened.
    pub event: EventKind,
    /// The kernel's boot id when it was measured.
    pub boot_id: String,
    /// Wall-clock time, nanoseconds since the epoch.
    pub time_ns: u64,
    /// The rest.
    #[serde(flatten)]
    pub fields: Fields,
}

/// One `digests` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankDigest {
    /// `sha256`, ...
    #[serde(rename = "hashAlg")]
    pub hash_alg: String,
    /// Lowercase hex.
    pub digest: String,
}

/// A CEL-JSON record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Consecutive from 0 in one log.
    pub recnum: u64,
    /// The PCR extended.
    pub pcr: u32,
    /// One digest per active bank.
    pub digests: Vec<BankDigest>,
    /// `rukt`.
    pub content_type: String,
    /// The event.
    pub content: Content,
}

impl Content {
    /// The content of `event` with `fields` at `time_ns` on `boot_id`, its
    /// string made from them.
    pub fn new(event: EventKind, boot_id: String, time_ns: u64, fields: Fields) -> Content {
        let mut c = Content {
            string: String::new(),
            event,
            boot_id,
            time_ns,
            fields,
        };
        c.string = c.canonical();
        c
    }

    /// The canonical string of these fields: `rukt:v1:<event>` then
    /// ` key=value` for each field present, in a fixed order, values
    /// percent-escaped so that no space, `=` or `%` is ambiguous.
    pub fn canonical(&self) -> String {
        let f = &self.fields;
        let mut s = format!("{STRING_PREFIX}{}", self.event.name());
        // `v` already escaped.
        let mut put = |k: &str, v: String| {
            s.push(' ');
            s.push_str(k);
            s.push('=');
            s.push_str(&v);
        };
        put("boot_id", escape(&self.boot_id));
        put("time_ns", self.time_ns.to_string());
        let opt = [("pod", &f.pod), ("app", &f.app), ("image", &f.image)];
        for (k, v) in opt {
            if let Some(v) = v {
                put(k, escape(v));
            }
        }
        for (k, v) in [
            ("image_digests", &f.image_digests),
            ("config_digests", &f.config_digests),
            ("layers", &f.layers),
        ] {
            if !v.is_empty() {
                put(k, v.iter().map(|x| escape(x)).collect::<Vec<_>>().join(","));
            }
        }
        for (k, v) in [
            ("manifest_digest", &f.manifest_digest),
            ("stage1", &f.stage1),
            ("stage1_digest", &f.stage1_digest),
            ("argv_digest", &f.argv_digest),
        ] {
            if let Some(v) = v {
                put(k, escape(v));
            }
        }
        if let Some(x) = f.exit_status {
            put("exit_status", x.to_string());
        }
        for (bank, v) in &f.pcr_start {
            put(&format!("pcr_start.{bank}"), escape(v));
        }
        if let Some(p) = &f.previous_log {
            put("previous_log", escape(p));
        }
        s
    }
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if c == ' ' || c == '=' || c == '%' || c == ',' || c.is_control() {
            let mut b = [0u8; 4];
            for byte in c.encode_utf8(&mut b).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Record {
    /// Record `recnum` of `content` for `pcr`, with a digest per bank.
    pub fn new(recnum: u64, pcr: u32, banks: &[HashAlg], content: Content) -> Record {
        let digests = banks
            .iter()
            .map(|a| BankDigest {
                hash_alg: a.name().to_string(),
                digest: hex(&a.hash(&[content.string.as_bytes()])),
            })
            .collect();
        Record {
            recnum,
            pcr,
            digests,
            content_type: CONTENT_TYPE.to_string(),
            content,
        }
    }

    /// The digests to extend, per bank.
    pub fn bank_digests(&self) -> Vec<(HashAlg, Vec<u8>)> {
        self.digests
            .iter()
            .filter_map(|d| {
                Some((
                    HashAlg::from_name(&d.hash_alg)?,
                    crate::alg::unhex(&d.digest)?,
                ))
            })
            .collect()
    }

    /// What is wrong with this record on its own: a string that does not
    /// match its fields, or a digest that is not the hash of the string.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.content_type != CONTENT_TYPE {
            out.push(format!("content_type is {:?}", self.content_type));
        }
        if self.content.string != self.content.canonical() {
            out.push("its fields do not match its measured string".to_string());
        }
        for d in &self.digests {
            match HashAlg::from_name(&d.hash_alg) {
                None => out.push(format!("unknown bank {:?}", d.hash_alg)),
                Some(a) if hex(&a.hash(&[self.content.string.as_bytes()])) != d.digest => {
                    out.push(format!("its {a} digest is not the hash of its string"))
                }
                Some(_) => {}
            }
        }
        out
    }

    /// The JSON-SEQ framing of this record: `0x1E`, JSON, newline.
    pub fn to_seq(&self) -> Vec<u8> {
        let mut out = vec![0x1E];
        out.extend(serde_json::to_vec(self).expect("a record serializes"));
        out.push(b'\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        let fields = Fields {
            pod: Some("p 1".into()),
            image_digests: vec!["sha256:aa".into(), "sha256:bb".into()],
            exit_status: Some(3),
            ..Fields::default()
        };
        let c = Content::new(EventKind::AppExited, "b".into(), 7, fields);
        Record::new(4, 15, &[HashAlg::Sha1, HashAlg::Sha256], c)
    }

    #[test]
    fn string_is_canonical_and_checked() {
        let r = sample();
        assert_eq!(
            r.content.string,
            "rukt:v1:app-exited boot_id=b time_ns=7 pod=p%201 image_digests=sha256:aa,sha256:bb exit_status=3"
        );
        assert!(r.problems().is_empty());
        let back: Record = serde_json::from_slice(&r.to_seq()[1..]).unwrap();
        assert_eq!(back, r);
        let mut edited = r.clone();
        edited.content.fields.exit_status = Some(0);
        assert_eq!(edited.problems().len(), 1);
        let mut redigested = r;
        redigested.content.fields.exit_status = Some(0);
        redigested.content.string = redigested.content.canonical();
        assert_eq!(
            redigested.problems().len(),
            2,
            "{:?}",
            redigested.problems()
        );
    }
}
