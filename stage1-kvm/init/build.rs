//! Links the `rukt-kvm-init` binary statically against glibc, with a plain
//! `cargo build` and without a musl target (none is installed here).
//!
//! rustc links a gnu binary dynamically unless `-C target-feature=+crt-static`
//! is set, which cargo can only set for every crate of a build at once. So
//! this script puts a directory on the binary's library search path in which
//! every library rustc asks for (`-lc`, `-lm`, `-lgcc_s`, ...) exists only as
//! its static archive (`libgcc_s` is `libgcc_eh.a`, the static unwinder), and
//! links the binary `-static-pie`. The result has no `PT_INTERP`; the stage1
//! checks that before putting it into an initramfs. The init uses nothing of
//! glibc that needs `dlopen` (no NSS: users are numeric ids).

use std::io::Write;
use std::path::Path;
use std::process::Command;

const ARCHIVES: [(&str, &str); 7] = [
    ("libc.a", "libc.a"),
    ("libm.a", "libm.a"),
    ("librt.a", "librt.a"),
    ("libdl.a", "libdl.a"),
    ("libutil.a", "libutil.a"),
    ("libpthread.a", "libpthread.a"),
    ("libgcc_s.a", "libgcc_eh.a"),
];

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let dir = Path::new(&out).join("static-libs");
    std::fs::create_dir_all(&dir).expect("creating the static library directory");
    for (name, archive) in ARCHIVES {
        let found = Command::new("cc")
            .arg(format!("-print-file-name={archive}"))
            .output()
            .expect("running cc -print-file-name");
        let path = String::from_utf8(found.stdout).expect("a UTF-8 path");
        let path = Path::new(path.trim());
        assert!(
            path.is_absolute() && path.exists(),
            "static archive {archive} not found (install libc6-dev and gcc)"
        );
        let link = dir.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(path, &link).expect("linking a static archive");
    }
    // `-L` as a link argument of the binary only: `rustc-link-search` would
    // reach every crate that depends on this package's library too (the
    // stage1), and link it half-static.
    // Debug info would make a test build's initramfs 10x larger.
    let directives = format!(
        "cargo:rustc-link-arg-bins=-L{}\n\
         cargo:rustc-link-arg-bins=-static-pie\n\
         cargo:rustc-link-arg-bins=-Wl,--strip-debug\n\
         cargo:rerun-if-changed=build.rs\n",
        dir.display()
    );
    // Cargo reads its directives from the build script's stdout.
    std::io::stdout()
        .write_all(directives.as_bytes())
        .expect("writing cargo directives");
}
