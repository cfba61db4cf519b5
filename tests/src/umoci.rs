//! umoci, the reference unpacker the interop test compares rukt's extraction against.

use std::path::{Path, PathBuf};

use crate::tools;

/// `umoci unpack --image DIR:TAG BUNDLE`; returns `BUNDLE/rootfs`.
pub fn unpack(layout_dir: &Path, tag: &str, bundle: &Path) -> PathBuf {
    let umoci = tools::require("umoci", "install the Debian package umoci");
    let image = format!("{}:{tag}", layout_dir.display());
    tools::run_checked(
        &umoci,
        &[
            "unpack".as_ref(),
            "--image".as_ref(),
            image.as_ref(),
            bundle.as_os_str(),
        ] as &[&std::ffi::OsStr],
    );
    bundle.join("rootfs")
}
