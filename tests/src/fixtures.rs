//! The images the tests share: a "rich" multi-layer image exercising every entry kind and
//! layer rule, small images on a common busybox base, and unique names for test artefacts.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::image::{Compression, Entry, ImageSpec, Layer, busybox_layer, random_bytes};

/// Nesting depth of the deep tree in the rich image.
pub const DEEP_LEVELS: usize = 60;

/// `deep/level-01/level-02/…/level-60` (about 550 bytes: needs GNU long names).
pub fn deep_dir() -> String {
    let mut path = String::from("deep");
    for i in 1..=DEEP_LEVELS {
        path.push_str(&format!("/level-{i:02}"));
    }
    path
}

/// A name unique within this test run (`<prefix>-<pid>-<n>`).
pub fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// An mtime different from the default, to see mtimes carried through.
pub const OTHER_MTIME: u64 = 1_600_000_000;

/// The rich image's layers:
/// 0. gzip: busybox userland;
/// 1. zstd (gzip if `zstd` is false): `data/` with files to delete later, a directory to make
///    opaque, hard links (one with a long link name into the deep tree), symlinks (relative,
///    absolute, dangling), a fifo, a unicode name, a 1 MiB file; `home/user` owned by
///    1000:1000; setuid/setgid binaries; a sticky directory; the 60-level deep tree;
/// 2. uncompressed: whiteouts of a file, a directory and a busybox applet; an opaque
///    directory with a new file; a changed file; a directory replaced by a file and a file
///    replaced by a directory; new metadata on an existing directory;
/// 3. gzip: an `etc` file and a symlink to a directory.
pub fn rich_layers(zstd: bool) -> Vec<Layer> {
    let deep = deep_dir();
    let mut l1 = vec![
        Entry::dir("data"),
        Entry::file("data/remove-me", "doomed\n"),
        Entry::dir("data/remove-dir"),
        Entry::file("data/remove-dir/inner", "doomed too\n"),
        Entry::dir("data/opaque").mode(0o750),
        Entry::file("data/opaque/old1", "old 1\n"),
        Entry::file("data/opaque/old2", "old 2\n"),
        Entry::dir("data/opaque/olddir"),
        Entry::file("data/opaque/olddir/x", "old x\n"),
        Entry::file("data/changed", "version 1\n"),
        Entry::file("data/hl-a", "hard-linked content\n")
            .mode(0o640)
            .owner(1000, 1000)
            .mtime(OTHER_MTIME),
        Entry::hardlink("data/hl-b", "data/hl-a"),
        Entry::hardlink("data/hl-c", "data/hl-a"),
        Entry::symlink("data/rel-link", "hl-a"),
        Entry::symlink("data/abs-link", "/etc/passwd"),
        Entry::symlink("data/dangling", "/nonexistent/target"),
        Entry::fifo("data/fifo").mode(0o600),
        Entry::file("data/ünïcödé name.txt", "unicode\n"),
        Entry::file("data/empty", ""),
        Entry::file("data/random.bin", random_bytes(1 << 20, 7)),
        Entry::dir("data/replaced-by-file"),
        Entry::file("data/replaced-by-file/child", "child\n"),
        Entry::file("data/file-to-dir", "a file for now\n"),
        Entry::dir("data/sticky").mode(0o1777),
        Entry::dir("home"),
        Entry::dir("home/user").mode(0o700).owner(1000, 1000),
        Entry::file("home/user/.profile", "export PS1='$ '\n")
            .mode(0o600)
            .owner(1000, 1000),
        Entry::file("home/user/notes", "owned by uid 1000\n")
            .owner(1000, 1000)
            .mtime(OTHER_MTIME),
        Entry::dir("usr"),
        Entry::dir("usr/local"),
        Entry::dir("usr/local/bin"),
        Entry::file("usr/local/bin/suid", "#!/bin/sh\necho setuid\n").mode(0o4755),
        Entry::file("usr/local/bin/sgid", "#!/bin/sh\necho setgid\n")
            .mode(0o2755)
            .owner(0, 50),
    ];
    let mut prefix = String::new();
    for part in deep.split('/') {
        if !prefix.is_empty() {
            prefix.push('/');
        }
        prefix.push_str(part);
        l1.push(Entry::dir(&prefix));
    }
    l1.push(Entry::file(&format!("{deep}/leaf"), "at the bottom\n"));
    l1.push(Entry::hardlink(
        "data/deep-hardlink",
        &format!("{deep}/leaf"),
    ));

    let l2 = vec![
        Entry::dir("bin"),
        Entry::whiteout("bin/ls"),
        Entry::dir("data").mode(0o711),
        Entry::whiteout("data/remove-me"),
        Entry::whiteout("data/remove-dir"),
        Entry::dir("data/opaque").mode(0o750),
        Entry::opaque("data/opaque"),
        Entry::file("data/opaque/new", "new in layer 2\n"),
        Entry::file("data/changed", "version 2\n").mode(0o600),
        Entry::file("data/replaced-by-file", "now a file\n"),
        Entry::dir("data/file-to-dir"),
        Entry::file("data/file-to-dir/child", "now a directory\n"),
    ];

    let l3 = vec![
        Entry::dir("etc"),
        Entry::file("etc/rukt-release", "rukt functional tests\n"),
        Entry::dir("data").mode(0o711),
        Entry::symlink("data/link-to-dir", "opaque"),
    ];

    vec![
        busybox_layer(),
        Layer::new(
            if zstd {
                Compression::Zstd
            } else {
                Compression::Gzip
            },
            l1,
        ),
        Layer::new(Compression::None, l2),
        Layer::new(Compression::Gzip, l3),
    ]
}

/// The rich image (zstd in layer 1), with an entrypoint, env, working dir and user.
pub fn rich_image() -> ImageSpec {
    ImageSpec::new(rich_layers(true))
        .entrypoint(&["/bin/sh", "-c"])
        .cmd(&["echo hello"])
        .env("RUKT_TEST=rich")
        .working_dir("/data")
        .user("1000:1000")
}

/// A small image: the busybox base plus one gzip layer holding `/etc/<name>` — distinct images
/// sharing their base layer.
pub fn small_image(name: &str) -> ImageSpec {
    ImageSpec::new(vec![
        busybox_layer(),
        Layer::new(
            Compression::Gzip,
            vec![
                Entry::dir("etc"),
                Entry::file(&format!("etc/{name}"), format!("{name}\n")),
            ],
        ),
    ])
    .label("name", name)
}

/// A one-layer image without busybox, made distinct by `nonce` (cheap to build in numbers).
pub fn tiny_image(nonce: &str) -> ImageSpec {
    ImageSpec::new(vec![Layer::new(
        Compression::Gzip,
        vec![Entry::file("hello", "hello\n")],
    )])
    .label("nonce", nonce)
}
