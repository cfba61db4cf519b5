//! An in-Rust OCI image builder: layers made of tar entries (or raw tar bytes), image configs,
//! manifests, multi-arch indexes, and real OCI image layouts on disk with correct digests,
//! sizes and `rootfs.diff_ids`.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};

use crate::digest::sha256;
use crate::tools;

/// Default modification time of every entry (2023-11-14T22:13:20Z): fixed so that builds are
/// reproducible and equal layers get equal digests.
pub const DEFAULT_MTIME: u64 = 1_700_000_000;

pub const MEDIA_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What a tar entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    /// Hard link to another path of the same layer (tar linkname, relative to the layer root).
    Hardlink(String),
    Fifo,
    CharDevice {
        major: u32,
        minor: u32,
    },
}

/// One tar entry of a layer. Paths are relative to the layer root, without a leading `/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
}

impl Entry {
    fn new(path: &str, kind: Kind, mode: u32) -> Self {
        Self {
            path: path.trim_end_matches('/').to_owned(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: DEFAULT_MTIME,
        }
    }

    /// A directory, mode 0755.
    pub fn dir(path: &str) -> Self {
        Self::new(path, Kind::Dir, 0o755)
    }

    /// A regular file, mode 0644.
    pub fn file(path: &str, content: impl Into<Vec<u8>>) -> Self {
        Self::new(path, Kind::File(content.into()), 0o644)
    }

    /// A symbolic link `path -> target`.
    pub fn symlink(path: &str, target: &str) -> Self {
        Self::new(path, Kind::Symlink(target.to_owned()), 0o777)
    }

    /// A hard link `path` to the earlier entry `target` of the same layer.
    pub fn hardlink(path: &str, target: &str) -> Self {
        Self::new(path, Kind::Hardlink(target.to_owned()), 0o644)
    }

    /// A named pipe.
    pub fn fifo(path: &str) -> Self {
        Self::new(path, Kind::Fifo, 0o644)
    }

    /// A character device node.
    pub fn char_device(path: &str, major: u32, minor: u32) -> Self {
        Self::new(path, Kind::CharDevice { major, minor }, 0o666)
    }

    /// The whiteout that deletes `path` of the lower layers: an empty file `dir/.wh.name`.
    pub fn whiteout(path: &str) -> Self {
        let path = path.trim_end_matches('/');
        let (dir, name) = match path.rsplit_once('/') {
            Some((dir, name)) => (format!("{dir}/"), name),
            None => (String::new(), path),
        };
        Self::file(&format!("{dir}.wh.{name}"), Vec::new())
    }

    /// The opaque whiteout of directory `dir`: hides everything the lower layers put in it.
    pub fn opaque(dir: &str) -> Self {
        Self::file(
            &format!("{}/.wh..wh..opq", dir.trim_end_matches('/')),
            Vec::new(),
        )
    }

    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    pub fn owner(mut self, uid: u64, gid: u64) -> Self {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn mtime(mut self, mtime: u64) -> Self {
        self.mtime = mtime;
        self
    }
}

/// How a layer blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn media_type(self) -> &'static str {
        match self {
            Compression::None => "application/vnd.oci.image.layer.v1.tar",
            Compression::Gzip => "application/vnd.oci.image.layer.v1.tar+gzip",
            Compression::Zstd => "application/vnd.oci.image.layer.v1.tar+zstd",
        }
    }

    pub fn compress(self, tar: &[u8]) -> Vec<u8> {
        match self {
            Compression::None => tar.to_vec(),
            Compression::Gzip => tools::gzip(tar),
            Compression::Zstd => zstd::encode_all(tar, 3).expect("zstd compression"),
        }
    }
}

#[derive(Debug)]
enum Content {
    Entries(Vec<Entry>),
    /// Tar bytes written by hand (see `hostile`).
    Raw(Vec<u8>),
}

/// A layer: tar entries (or raw tar bytes) and a compression. Clones share the built blob, so
/// a layer used by several images is built (and compressed) once.
#[derive(Clone, Debug)]
pub struct Layer {
    content: Arc<Content>,
    pub compression: Compression,
    built: Arc<OnceLock<Blob>>,
}

/// A built layer blob.
#[derive(Clone, Debug)]
pub struct Blob {
    pub media_type: &'static str,
    /// The blob as stored in a layout or registry (compressed).
    pub bytes: Arc<Vec<u8>>,
    /// `sha256:` of `bytes`.
    pub digest: String,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
}

impl Blob {
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

impl Layer {
    pub fn new(compression: Compression, entries: Vec<Entry>) -> Self {
        Self::with_content(compression, Content::Entries(entries))
    }

    /// A layer whose uncompressed tar is exactly `tar`.
    pub fn raw(compression: Compression, tar: Vec<u8>) -> Self {
        Self::with_content(compression, Content::Raw(tar))
    }

    fn with_content(compression: Compression, content: Content) -> Self {
        Self {
            content: Arc::new(content),
            compression,
            built: Arc::new(OnceLock::new()),
        }
    }

    /// The entries, or `None` for a raw layer.
    pub fn entries(&self) -> Option<&[Entry]> {
        match &*self.content {
            Content::Entries(entries) => Some(entries),
            Content::Raw(_) => None,
        }
    }

    /// The uncompressed tar stream.
    pub fn tar(&self) -> Vec<u8> {
        match &*self.content {
            Content::Entries(entries) => tar_of(entries),
            Content::Raw(tar) => tar.clone(),
        }
    }

    /// Builds (once) and returns the compressed blob with its digest and diff_id.
    pub fn blob(&self) -> &Blob {
        self.built.get_or_init(|| {
            let tar = self.tar();
            let diff_id = sha256(&tar);
            let bytes = self.compression.compress(&tar);
            Blob {
                media_type: self.compression.media_type(),
                digest: sha256(&bytes),
                bytes: Arc::new(bytes),
                diff_id,
            }
        })
    }
}

/// Serialises entries with the `tar` crate (GNU headers; long names and link names use the GNU
/// `@LongLink` extension).
pub fn tar_of(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.gid);
        h.set_mtime(e.mtime);
        h.set_size(0);
        let res = match &e.kind {
            Kind::Dir => {
                h.set_entry_type(tar::EntryType::Directory);
                builder.append_data(&mut h, format!("{}/", e.path), std::io::empty())
            }
            Kind::File(content) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(content.len() as u64);
                builder.append_data(&mut h, &e.path, content.as_slice())
            }
            Kind::Symlink(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                builder.append_link(&mut h, &e.path, target)
            }
            Kind::Hardlink(target) => {
                h.set_entry_type(tar::EntryType::Link);
                builder.append_link(&mut h, &e.path, target)
            }
            Kind::Fifo => {
                h.set_entry_type(tar::EntryType::Fifo);
                builder.append_data(&mut h, &e.path, std::io::empty())
            }
            Kind::CharDevice { major, minor } => {
                h.set_entry_type(tar::EntryType::Char);
                h.set_device_major(*major).expect("device major");
                h.set_device_minor(*minor).expect("device minor");
                builder.append_data(&mut h, &e.path, std::io::empty())
            }
        };
        res.unwrap_or_else(|err| panic!("cannot add {:?} to a tar: {err}", e.path));
    }
    builder.into_inner().expect("finishing tar")
}

/// An image: layers plus the parts of the config a user can observe.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    pub layers: Vec<Layer>,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub created: String,
}

impl ImageSpec {
    /// linux/amd64, `PATH` set, `/bin/sh` as command.
    pub fn new(layers: Vec<Layer>) -> Self {
        Self {
            layers,
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
            entrypoint: Vec::new(),
            cmd: vec!["/bin/sh".into()],
            env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
            working_dir: "/".into(),
            user: String::new(),
            labels: BTreeMap::new(),
            exposed_ports: Vec::new(),
            created: "2023-11-14T22:13:20Z".into(),
        }
    }

    pub fn arch(mut self, architecture: &str, variant: Option<&str>) -> Self {
        self.architecture = architecture.into();
        self.variant = variant.map(Into::into);
        self
    }

    pub fn entrypoint(mut self, args: &[&str]) -> Self {
        self.entrypoint = args.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn cmd(mut self, args: &[&str]) -> Self {
        self.cmd = args.iter().map(|s| (*s).to_owned()).collect();
        self
    }

    pub fn env(mut self, var: &str) -> Self {
        self.env.push(var.into());
        self
    }

    pub fn working_dir(mut self, dir: &str) -> Self {
        self.working_dir = dir.into();
        self
    }

    pub fn user(mut self, user: &str) -> Self {
        self.user = user.into();
        self
    }

    /// Adds a label; also the easy way to make two otherwise equal images differ.
    pub fn label(mut self, key: &str, value: &str) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Declares an exposed port (`80/tcp`), as `EXPOSE` does.
    pub fn expose(mut self, port: &str) -> Self {
        self.exposed_ports.push(port.into());
        self
    }

    /// The image config JSON (compact, keys sorted).
    pub fn config_json(&self) -> Vec<u8> {
        let diff_ids: Vec<&str> = self
            .layers
            .iter()
            .map(|l| l.blob().diff_id.as_str())
            .collect();
        let history: Vec<Value> = self
            .layers
            .iter()
            .enumerate()
            .map(|(i, _)| json!({"created": self.created, "created_by": format!("rukt-tests layer {i}")}))
            .collect();
        let mut config = json!({
            "Env": self.env,
            "Cmd": self.cmd,
            "WorkingDir": self.working_dir,
        });
        if !self.entrypoint.is_empty() {
            config["Entrypoint"] = json!(self.entrypoint);
        }
        if !self.user.is_empty() {
            config["User"] = json!(self.user);
        }
        if !self.labels.is_empty() {
            config["Labels"] = json!(self.labels);
        }
        if !self.exposed_ports.is_empty() {
            let ports: serde_json::Map<String, Value> = self
                .exposed_ports
                .iter()
                .map(|p| (p.clone(), json!({})))
                .collect();
            config["ExposedPorts"] = Value::Object(ports);
        }
        let mut doc = json!({
            "created": self.created,
            "architecture": self.architecture,
            "os": self.os,
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        });
        if let Some(variant) = &self.variant {
            doc["variant"] = json!(variant);
        }
        serde_json::to_vec(&doc).expect("serialising config")
    }

    /// Builds config, layers and manifest.
    pub fn build(&self) -> BuiltImage {
        let config = self.config_json();
        let config_digest = sha256(&config);
        let layers: Vec<Blob> = self.layers.iter().map(|l| l.blob().clone()).collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config.len()},
            "layers": layers
                .iter()
                .map(|b| json!({"mediaType": b.media_type, "digest": b.digest, "size": b.size()}))
                .collect::<Vec<_>>(),
        });
        let manifest = serde_json::to_vec_pretty(&manifest).expect("serialising manifest");
        BuiltImage {
            manifest_digest: sha256(&manifest),
            manifest,
            config_digest,
            config,
            layers,
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        }
    }
}

/// An image as written: its blobs and their digests.
#[derive(Clone, Debug)]
pub struct BuiltImage {
    pub manifest_digest: String,
    /// The manifest bytes exactly as stored and pushed.
    pub manifest: Vec<u8>,
    /// The config digest, i.e. the image ID rukt reports.
    pub config_digest: String,
    pub config: Vec<u8>,
    pub layers: Vec<Blob>,
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl BuiltImage {
    /// The image ID as rukt prints it: `sha256:<hex of the config digest>`.
    pub fn id(&self) -> &str {
        &self.config_digest
    }

    fn platform(&self) -> Value {
        let mut p = json!({"os": self.os, "architecture": self.architecture});
        if let Some(v) = &self.variant {
            p["variant"] = json!(v);
        }
        p
    }
}

/// A tag written into an OCI image layout.
#[derive(Clone, Debug)]
pub struct Layout {
    pub dir: PathBuf,
    pub tag: String,
    /// Digest of what `index.json` points at for `tag`: a manifest, or an image index when the
    /// tag is multi-arch.
    pub top_digest: String,
    pub top_media_type: &'static str,
    /// The image index blob for a multi-arch tag.
    pub index: Option<Vec<u8>>,
    pub images: Vec<BuiltImage>,
}

impl Layout {
    /// `oci:DIR:TAG`.
    pub fn reference(&self) -> String {
        format!("oci:{}:{}", self.dir.display(), self.tag)
    }

    /// The only image of a single-arch tag.
    pub fn image(&self) -> &BuiltImage {
        assert_eq!(self.images.len(), 1, "{} is multi-arch", self.tag);
        &self.images[0]
    }

    /// The image for `architecture` of a multi-arch tag.
    pub fn image_for(&self, architecture: &str) -> &BuiltImage {
        self.images
            .iter()
            .find(|i| i.architecture == architecture)
            .unwrap_or_else(|| panic!("{} has no {architecture} image", self.tag))
    }
}

fn write_blob(dir: &Path, bytes: &[u8]) -> String {
    let digest = sha256(bytes);
    let path = dir
        .join("blobs/sha256")
        .join(crate::digest::hex_of(&digest));
    if !path.exists() {
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
    digest
}

/// Writes `images` under `tag` into the OCI image layout at `dir` (created if needed; an
/// existing `index.json` keeps its other tags). One image gives a plain manifest; several give
/// an image index whose entries carry each image's platform.
pub fn write_layout(dir: &Path, tag: &str, images: &[ImageSpec]) -> Layout {
    assert!(!images.is_empty(), "write_layout needs at least one image");
    fs::create_dir_all(dir.join("blobs/sha256")).expect("creating layout directories");
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)
        .expect("writing oci-layout");

    let built: Vec<BuiltImage> = images.iter().map(ImageSpec::build).collect();
    for image in &built {
        write_blob(dir, &image.config);
        for layer in &image.layers {
            write_blob(dir, &layer.bytes);
        }
        write_blob(dir, &image.manifest);
    }

    let (top_digest, top_media_type, top_size, index) = if built.len() == 1 {
        let m = &built[0];
        (
            m.manifest_digest.clone(),
            MEDIA_MANIFEST,
            m.manifest.len(),
            None,
        )
    } else {
        let index = json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_INDEX,
            "manifests": built
                .iter()
                .map(|m| json!({
                    "mediaType": MEDIA_MANIFEST,
                    "digest": m.manifest_digest,
                    "size": m.manifest.len(),
                    "platform": m.platform(),
                }))
                .collect::<Vec<_>>(),
        });
        let index = serde_json::to_vec_pretty(&index).expect("serialising index");
        let digest = write_blob(dir, &index);
        let size = index.len();
        (digest, MEDIA_INDEX, size, Some(index))
    };

    let index_path = dir.join("index.json");
    let mut manifests: Vec<Value> = match fs::read(&index_path) {
        Ok(bytes) => {
            let doc: Value = serde_json::from_slice(&bytes).expect("parsing index.json");
            doc["manifests"].as_array().cloned().unwrap_or_default()
        }
        Err(_) => Vec::new(),
    };
    manifests.retain(|m| m["annotations"][REF_NAME] != tag);
    let mut entry = json!({
        "mediaType": top_media_type,
        "digest": top_digest,
        "size": top_size,
        "annotations": {REF_NAME: tag},
    });
    if built.len() == 1 {
        entry["platform"] = built[0].platform();
    }
    manifests.push(entry);
    let doc = json!({"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": manifests});
    fs::write(
        &index_path,
        serde_json::to_vec_pretty(&doc).expect("serialising index.json"),
    )
    .expect("writing index.json");

    Layout {
        dir: dir.to_owned(),
        tag: tag.to_owned(),
        top_digest,
        top_media_type,
        index,
        images: built,
    }
}

/// Tars an OCI layout directory into an `oci-archive` file (the layout at the archive root).
pub fn write_oci_archive(layout_dir: &Path, file: &Path) {
    let out = fs::File::create(file).unwrap_or_else(|e| panic!("creating {}: {e}", file.display()));
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    builder
        .append_dir_all(".", layout_dir)
        .unwrap_or_else(|e| panic!("archiving {}: {e}", layout_dir.display()));
    builder.into_inner().expect("finishing oci-archive");
}

/// `count` bytes of reproducible, incompressible pseudo-random data (xorshift64 from `seed`).
pub fn random_bytes(count: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut data = vec![0u8; count];
    for chunk in data.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
    }
    data
}

/// An uncompressed layer holding one file `path` of `size` pseudo-random bytes.
pub fn random_layer(path: &str, size: usize, seed: u64) -> Layer {
    let mut entries = Vec::new();
    if let Some((dir, _)) = path.rsplit_once('/') {
        let mut prefix = String::new();
        for part in dir.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            entries.push(Entry::dir(&prefix));
        }
    }
    entries.push(Entry::file(path, random_bytes(size, seed)));
    Layer::new(Compression::None, entries)
}

/// Applets linked to busybox in `busybox_layer`.
pub const BUSYBOX_APPLETS: &[&str] = &[
    "sh", "true", "false", "echo", "cat", "ls", "sleep", "id", "env", "pwd", "stat", "mkdir", "rm",
    "touch", "test",
];

/// A gzip layer with a minimal userland: `/bin/busybox` (the host's static busybox) and its
/// applet symlinks, `/etc/passwd` and `/etc/group` with root and nobody, `/tmp`, `/root`.
/// Built once per test process.
pub fn busybox_layer() -> Layer {
    static LAYER: OnceLock<Layer> = OnceLock::new();
    LAYER
        .get_or_init(|| {
            let busybox = Path::new("/bin/busybox");
            let binary = fs::read(busybox).unwrap_or_else(|e| {
                panic!("cannot read {}: {e} (install the Debian package busybox-static)", busybox.display())
            });
            let mut entries = vec![
                Entry::dir("bin"),
                Entry::file("bin/busybox", binary).mode(0o755),
            ];
            for applet in BUSYBOX_APPLETS {
                entries.push(Entry::symlink(&format!("bin/{applet}"), "busybox"));
            }
            entries.extend([
                Entry::dir("etc"),
                Entry::file(
                    "etc/passwd",
                    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
                ),
                Entry::file("etc/group", "root:x:0:\nnogroup:x:65534:\n"),
                Entry::dir("root").mode(0o700),
                Entry::dir("tmp").mode(0o1777),
            ]);
            Layer::new(Compression::Gzip, entries)
        })
        .clone()
}
