//! The host↔guest control protocol, spoken over one virtio-serial port
//! (`rukt.ctl`) between the stage1 supervisor and the guest init, and over
//! the supervisor's unix socket by the `enter` entrypoint.
//!
//! A stream of frames: `kind: u8`, `id: u32` (little endian), `len: u32`
//! (little endian), then `len` bytes of payload (at most [`MAX_PAYLOAD`]).
//! `id` names what the frame is about: app `i` of the manifest is id `i`;
//! ids from [`SESSION_BASE`] on are `enter` sessions, from [`CONN_BASE`] on
//! connections to socket-activated listeners the host proxies into the
//! guest. Both sides treat the
//! other as untrusted: a malformed frame ends the connection.

use serde::{Deserialize, Serialize};

/// Largest payload accepted.
pub const MAX_PAYLOAD: u32 = 1 << 20;
/// Frame header length.
pub const HEADER: usize = 9;
/// First id of an `enter` session; smaller ids are apps.
pub const SESSION_BASE: u32 = 1 << 16;
/// First id of a proxied connection; smaller ids are apps and sessions.
pub const CONN_BASE: u32 = 1 << 24;
/// Name of the virtio-serial port the guest looks for.
pub const PORT_NAME: &str = "rukt.ctl";
/// virtiofs tag of the pod's share.
pub const FS_TAG: &str = "rukt";

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// host → guest: the pod ([`GuestPod`], JSON). First frame, id 0.
    Pod = 1,
    /// host → guest: run a command in an app ([`ExecRequest`], JSON).
    Exec = 2,
    /// host → guest: bytes for the stdin of `id`; empty means end of file.
    Stdin = 3,
    /// host → guest: deliver signal `payload[0]` to `id` (app or session).
    Signal = 4,
    /// host → guest: stop the pod: SIGTERM every app, SIGKILL after
    /// `payload` (u32 LE seconds), then power off.
    Stop = 5,
    /// host → guest: a client connected to activated listener
    /// `payload[0]` ([`GuestPod::listen`]); connection `id` from now on.
    Accept = 6,
    /// host → guest: bytes the client of connection `id` sent; empty means
    /// it will send no more.
    ConnIn = 7,
    /// Mutable pods, host → guest: prepare app `id` ([`GuestApp`], JSON):
    /// its root and volumes mounted, its cgroup made; not started. From an
    /// `app-*` entrypoint to the supervisor, each of these five kinds
    /// carries an [`AppRequest`] instead.
    AppAdd = 8,
    /// Mutable pods, host → guest: start prepared app `id`; answered with
    /// [`Kind::AppStarted`] then [`Kind::Reply`].
    AppStart = 9,
    /// Mutable pods, host → guest: stop app `id`: SIGTERM, SIGKILL after
    /// `payload` (u32 LE seconds; 0: at once); its [`Kind::Exit`] comes
    /// before the [`Kind::Reply`]. A prepared app never started is
    /// reported as killed (137).
    AppStop = 10,
    /// Mutable pods, host → guest: forget app `id` (refused while it runs):
    /// its mounts detached, its cgroup removed.
    AppRm = 11,
    /// Mutable pods, host → guest: apply app `id`'s resources
    /// (`rukt_contract::Resources`, JSON) to its cgroup.
    AppUpdate = 12,
    /// guest → host: bytes `id` wrote to its stdout.
    Stdout = 16,
    /// guest → host: bytes `id` wrote to its stderr.
    Stderr = 17,
    /// guest → host: every app has been started (id 0).
    Started = 18,
    /// guest → host: `id` ended; payload: exit code (u8), then an optional
    /// reason in UTF-8 (`oom-killed`).
    Exit = 19,
    /// guest → host: `id` could not be started; payload: the message.
    Error = 20,
    /// guest → host: bytes the app sent on connection `id`; empty means it
    /// will send no more (or the connection is gone).
    ConnOut = 21,
    /// guest → host: a datagram the gating app sent its notification socket
    /// (`--sd-notify=app`); the host relays only what sd_notify allows.
    Notify = 22,
    /// guest → host (and supervisor → `app-*` entrypoint): the request of
    /// kind `AppAdd`..`AppUpdate` about `id` is done (empty payload) or
    /// failed (payload: the message).
    Reply = 23,
    /// guest → host: app `id` of a mutable pod has been started.
    AppStarted = 24,
}

impl Kind {
    /// The kind of a header byte.
    pub fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Pod,
            2 => Kind::Exec,
            3 => Kind::Stdin,
            4 => Kind::Signal,
            5 => Kind::Stop,
            6 => Kind::Accept,
            7 => Kind::ConnIn,
            8 => Kind::AppAdd,
            9 => Kind::AppStart,
            10 => Kind::AppStop,
            11 => Kind::AppRm,
            12 => Kind::AppUpdate,
            16 => Kind::Stdout,
            17 => Kind::Stderr,
            18 => Kind::Started,
            19 => Kind::Exit,
            20 => Kind::Error,
            21 => Kind::ConnOut,
            22 => Kind::Notify,
            23 => Kind::Reply,
            24 => Kind::AppStarted,
            _ => return None,
        })
    }
}

/// One frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// What it is.
    pub kind: Kind,
    /// Whom it is about.
    pub id: u32,
    /// Its bytes.
    pub payload: Vec<u8>,
}

/// A malformed frame.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtoError {
    /// An unknown kind byte.
    #[error("unknown frame kind {0}")]
    Kind(u8),
    /// A payload over [`MAX_PAYLOAD`].
    #[error("frame payload of {0} bytes is too large")]
    TooLarge(u32),
}

impl Frame {
    /// A frame.
    pub fn new(kind: Kind, id: u32, payload: impl Into<Vec<u8>>) -> Frame {
        Frame {
            kind,
            id,
            payload: payload.into(),
        }
    }

    /// Appends the encoded frame to `out`. Payloads longer than
    /// [`MAX_PAYLOAD`] must be split by the caller ([`encode_chunked`]).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        debug_assert!(self.payload.len() <= MAX_PAYLOAD as usize);
        out.push(self.kind as u8);
        out.extend_from_slice(&self.id.to_le_bytes());
        out.extend_from_slice(&(self.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.payload);
    }

    /// The encoded frame.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HEADER + self.payload.len());
        self.encode_into(&mut v);
        v
    }
}

/// Encodes `data` as frames of `kind` for `id`, split at [`MAX_PAYLOAD`];
/// empty data is one empty frame (an end of file, a bare notice).
pub fn encode_chunked(kind: Kind, id: u32, data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return Frame::new(kind, id, Vec::new()).encode_into(out);
    }
    for chunk in data.chunks(MAX_PAYLOAD as usize) {
        Frame::new(kind, id, chunk).encode_into(out);
    }
}

/// Reassembles frames from bytes as they arrive.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// Adds received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if there is one.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ProtoError> {
        if self.buf.len() < HEADER {
            return Ok(None);
        }
        let kind = Kind::from_u8(self.buf[0]).ok_or(ProtoError::Kind(self.buf[0]))?;
        let id = u32::from_le_bytes(self.buf[1..5].try_into().expect("4 bytes"));
        let len = u32::from_le_bytes(self.buf[5..9].try_into().expect("4 bytes"));
        if len > MAX_PAYLOAD {
            return Err(ProtoError::TooLarge(len));
        }
        let end = HEADER + len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let payload = self.buf[HEADER..end].to_vec();
        self.buf.drain(..end);
        Ok(Some(Frame { kind, id, payload }))
    }
}

/// The pod as the guest needs it (first frame, [`Kind::Pod`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestPod {
    /// The pod's UUID.
    pub uuid: String,
    /// Hostname; the UUID's first part when unset.
    pub hostname: String,
    /// The apps, in manifest order: app `i` has id `i`. Their roots are
    /// `apps/<name>` in the share.
    pub apps: Vec<rukt_contract::App>,
    /// Volumes, `volumes/<name>` in the share (read-only ones are shared
    /// read-only by the host already).
    pub volumes: Vec<rukt_contract::Volume>,
    /// Whether the app whose stdin the host forwards is app 0 (otherwise
    /// every app's stdin is `/dev/null`).
    pub stdin: bool,
    /// Log what the init does to the console.
    pub debug: bool,
    /// The VM's network interfaces, which the init configures.
    #[serde(default)]
    pub nics: Vec<GuestNic>,
    /// Files the init writes once and binds onto `/etc/<name>` in every
    /// app: `(name, contents)`.
    #[serde(default)]
    pub etc: Vec<(String, String)>,
    /// Socket activation: the listeners the host was given, in
    /// `LISTEN_FDS` order, recreated in the guest and handed to app
    /// `listen_app`; the host proxies each connection ([`Kind::Accept`]).
    #[serde(default)]
    pub listen: Vec<GuestListener>,
    /// The app (index) that gets [`GuestPod::listen`].
    #[serde(default)]
    pub listen_app: usize,
    /// `--sd-notify=app:NAME`: the app given a notification socket at
    /// `rukt_contract::sdnotify::APP_SOCKET`, relayed as [`Kind::Notify`].
    #[serde(default)]
    pub notify_app: Option<String>,
    /// A mutable pod: it runs until it is stopped, whatever its apps do;
    /// apps come and go with [`Kind::AppAdd`] and [`Kind::AppRm`].
    #[serde(default)]
    pub mutable: bool,
    /// The pod's sysctls (the manifest's, namespaced ones only: stage0
    /// checked them), written by the init into the guest kernel's
    /// `/proc/sys` once the network is configured, before any app runs.
    #[serde(default)]
    pub sysctls: std::collections::BTreeMap<String, String>,
}

/// An app added to a running mutable pod ([`Kind::AppAdd`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestApp {
    /// The app as the manifest has it.
    pub app: rukt_contract::App,
    /// Its root's directory in the share (`mutable/<id>`): a fresh name per
    /// add, so a name used again never meets the guest's cached entries.
    pub root: String,
    /// The volumes its mounts name that the guest does not know yet
    /// (`volumes/<name>` in the share).
    pub volumes: Vec<rukt_contract::Volume>,
}

/// What an `app-*` entrypoint asks the supervisor, as the payload of a
/// frame of kind [`Kind::AppAdd`]..[`Kind::AppUpdate`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AppRequest {
    /// The app.
    pub app: String,
    /// `app-stop`: kill at once.
    #[serde(default)]
    pub force: bool,
    /// `app-stop`: seconds between SIGTERM and SIGKILL.
    #[serde(default)]
    pub timeout_secs: u32,
}

/// The payload of an [`Kind::AppStop`] frame to the guest: SIGKILL after
/// `secs` (0: at once).
pub fn stop_payload(secs: u32) -> Vec<u8> {
    secs.to_le_bytes().to_vec()
}

/// The seconds of a [`Kind::Stop`] or [`Kind::AppStop`] payload; `default`
/// when it has none.
pub fn parse_stop(payload: &[u8], default: u32) -> u32 {
    payload.get(..4).map_or(default, |b| {
        u32::from_le_bytes(b.try_into().expect("4 bytes"))
    })
}

/// The payload of a [`Kind::Reply`]: empty when `outcome` is a success.
pub fn reply_payload(outcome: &Result<(), String>) -> Vec<u8> {
    match outcome {
        Ok(()) => Vec::new(),
        Err(e) if e.is_empty() => b"failed".to_vec(),
        Err(e) => e.as_bytes().to_vec(),
    }
}

/// What a [`Kind::Reply`] payload says.
pub fn parse_reply(payload: &[u8]) -> Result<(), String> {
    if payload.is_empty() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(payload).into_owned())
    }
}

/// A socket-activated listener, as the guest recreates it: a stream socket
/// on the guest's loopback (`Inet`, `Inet6`: the host socket's port) or a
/// unix socket in the guest (`Unix`), with its `LISTEN_FDNAMES` name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestListener {
    /// Its address family.
    pub family: ListenerFamily,
    /// The port (inet families).
    pub port: u16,
    /// Its name (`FileDescriptorName=`).
    pub name: String,
}

/// The family of a [`GuestListener`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerFamily {
    /// IPv4, on 127.0.0.1 in the guest.
    Inet,
    /// IPv6, on ::1 in the guest.
    Inet6,
    /// A unix stream socket.
    Unix,
}

/// One network interface of the VM, as its pod network set it up on the
/// host (the pod netns's link, whose MAC the VM's NIC has).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestNic {
    /// Its MAC, `aa:bb:cc:dd:ee:ff`: how the init finds it.
    pub mac: String,
    /// Its MTU.
    pub mtu: u32,
    /// Its IPv4 addresses, `10.1.0.5/24`.
    pub addresses: Vec<String>,
    /// Its gateway, for routes without a next hop.
    pub gateway: Option<String>,
    /// Its routes: `(destination, next hop)`.
    pub routes: Vec<(String, Option<String>)>,
}

/// A command to run inside an app (`enter`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The app whose root, user and environment it gets.
    pub app: String,
    /// argv; empty means `/bin/sh`.
    pub argv: Vec<String>,
    /// Extra environment (`TERM`), `NAME=value`.
    pub env: Vec<String>,
}

/// The payload of an [`Kind::Exit`] frame.
pub fn exit_payload(code: u8, reason: Option<&str>) -> Vec<u8> {
    let mut v = vec![code];
    if let Some(r) = reason {
        v.extend_from_slice(r.as_bytes());
    }
    v
}

/// Splits an [`Kind::Exit`] payload into the code and the reason.
pub fn parse_exit(payload: &[u8]) -> Option<(u8, Option<String>)> {
    let (&code, rest) = payload.split_first()?;
    let reason = (!rest.is_empty()).then(|| String::from_utf8_lossy(rest).into_owned());
    Some((code, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_across_arbitrary_splits() {
        let frames = vec![
            Frame::new(Kind::Pod, 0, b"{}".to_vec()),
            Frame::new(Kind::Stdout, 3, b"hello\n".to_vec()),
            Frame::new(Kind::Stdin, SESSION_BASE + 1, Vec::new()),
            Frame::new(Kind::Exit, 1, exit_payload(137, Some("oom-killed"))),
            Frame::new(Kind::Accept, CONN_BASE, vec![0]),
            Frame::new(Kind::ConnIn, CONN_BASE, b"GET /".to_vec()),
            Frame::new(Kind::ConnOut, CONN_BASE, Vec::new()),
            Frame::new(Kind::Notify, 0, b"READY=1".to_vec()),
            Frame::new(Kind::AppAdd, 4, b"{}".to_vec()),
            Frame::new(Kind::AppStart, 4, Vec::new()),
            Frame::new(Kind::AppStop, 4, stop_payload(10)),
            Frame::new(Kind::AppRm, 4, Vec::new()),
            Frame::new(Kind::AppUpdate, 4, b"{}".to_vec()),
            Frame::new(Kind::AppStarted, 4, Vec::new()),
            Frame::new(Kind::Reply, 4, reply_payload(&Err("no".into()))),
        ];
        let mut wire = Vec::new();
        for f in &frames {
            f.encode_into(&mut wire);
        }
        for step in [1, 2, 5, 9, 64] {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for chunk in wire.chunks(step) {
                d.push(chunk);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, frames, "split every {step} bytes");
        }
    }

    #[test]
    fn a_pod_without_the_v2_fields_still_decodes() {
        let old =
            r#"{"uuid":"u","hostname":"h","apps":[],"volumes":[],"stdin":false,"debug":false}"#;
        let pod: GuestPod = serde_json::from_str(old).unwrap();
        assert!(pod.listen.is_empty() && pod.notify_app.is_none());
        let l = GuestListener {
            family: ListenerFamily::Inet6,
            port: 8080,
            name: "web".into(),
        };
        let json = serde_json::to_string(&l).unwrap();
        assert_eq!(json, r#"{"family":"inet6","port":8080,"name":"web"}"#);
    }

    #[test]
    fn header_layout_is_fixed() {
        let wire = Frame::new(Kind::Stderr, 0x0102_0304, b"ab".to_vec()).encode();
        assert_eq!(wire, [17, 4, 3, 2, 1, 2, 0, 0, 0, b'a', b'b']);
    }

    #[test]
    fn refuses_unknown_kinds_and_huge_payloads() {
        let mut d = Decoder::default();
        d.push(&[99, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(d.next_frame(), Err(ProtoError::Kind(99)));
        let mut d = Decoder::default();
        let mut wire = vec![Kind::Stdout as u8, 0, 0, 0, 0];
        wire.extend_from_slice(&(MAX_PAYLOAD + 1).to_le_bytes());
        d.push(&wire);
        assert_eq!(d.next_frame(), Err(ProtoError::TooLarge(MAX_PAYLOAD + 1)));
    }

    #[test]
    fn large_output_is_chunked() {
        let data = vec![7u8; MAX_PAYLOAD as usize + 10];
        let mut wire = Vec::new();
        encode_chunked(Kind::Stdout, 2, &data, &mut wire);
        let mut d = Decoder::default();
        d.push(&wire);
        let a = d.next_frame().unwrap().unwrap();
        let b = d.next_frame().unwrap().unwrap();
        assert_eq!(a.payload.len(), MAX_PAYLOAD as usize);
        assert_eq!(b.payload.len(), 10);
        assert!(d.next_frame().unwrap().is_none());
        let mut wire = Vec::new();
        encode_chunked(Kind::Stdin, 2, &[], &mut wire);
        d.push(&wire);
        assert_eq!(
            d.next_frame().unwrap(),
            Some(Frame::new(Kind::Stdin, 2, Vec::new()))
        );
    }

    #[test]
    fn every_kind_byte_round_trips() {
        for b in 0..=u8::MAX {
            if let Some(k) = Kind::from_u8(b) {
                assert_eq!(k as u8, b);
            }
        }
        assert_eq!(Kind::from_u8(8), Some(Kind::AppAdd));
        assert_eq!(Kind::from_u8(24), Some(Kind::AppStarted));
        assert_eq!(Kind::from_u8(25), None);
    }

    #[test]
    fn mutable_pod_payloads() {
        assert_eq!(parse_stop(&stop_payload(7), 10), 7);
        assert_eq!(parse_stop(&[], 10), 10);
        assert_eq!(parse_reply(&reply_payload(&Ok(()))), Ok(()));
        assert_eq!(
            parse_reply(&reply_payload(&Err("app web is running".into()))),
            Err("app web is running".into())
        );
        assert_eq!(
            parse_reply(&reply_payload(&Err(String::new()))),
            Err("failed".into())
        );
        let req: AppRequest = serde_json::from_str(r#"{"app":"web"}"#).unwrap();
        assert_eq!(
            (req.app.as_str(), req.force, req.timeout_secs),
            ("web", false, 0)
        );
        let old =
            r#"{"uuid":"u","hostname":"h","apps":[],"volumes":[],"stdin":false,"debug":false}"#;
        assert!(!serde_json::from_str::<GuestPod>(old).unwrap().mutable);
    }

    #[test]
    fn exit_payloads() {
        assert_eq!(parse_exit(&exit_payload(3, None)), Some((3, None)));
        assert_eq!(
            parse_exit(&exit_payload(137, Some("oom-killed"))),
            Some((137, Some("oom-killed".into())))
        );
        assert_eq!(parse_exit(&[]), None);
    }
}
