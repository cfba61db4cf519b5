//! skopeo wrappers: push an OCI layout tag to the test registry (digests preserved, so the
//! registry serves our exact manifest bytes) and convert a layout into a docker-archive.

use std::path::{Path, PathBuf};

use crate::registry::Registry;
use crate::tools;

fn skopeo() -> PathBuf {
    tools::require("skopeo", "install the Debian package skopeo")
}

/// `skopeo copy --all --preserve-digests oci:DIR:TAG docker://HOST/NAME:TAG` (plain HTTP).
pub fn push(layout_dir: &Path, tag: &str, registry: &Registry, name_tag: &str) {
    let src = format!("oci:{}:{tag}", layout_dir.display());
    let dest = format!("docker://{}/{name_tag}", registry.host());
    tools::run_checked(
        &skopeo(),
        &[
            "--insecure-policy",
            "copy",
            "--quiet",
            "--all",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &src,
            &dest,
        ],
    );
}

/// `skopeo copy oci:DIR:TAG docker-archive:FILE:NAME_TAG`.
pub fn to_docker_archive(layout_dir: &Path, tag: &str, file: &Path, name_tag: &str) {
    let src = format!("oci:{}:{tag}", layout_dir.display());
    let dest = format!("docker-archive:{}:{name_tag}", file.display());
    tools::run_checked(
        &skopeo(),
        &["--insecure-policy", "copy", "--quiet", &src, &dest],
    );
}

/// `skopeo inspect --raw` of an image reference (any transport skopeo knows): the manifest or
/// index bytes.
pub fn raw_manifest(reference: &str) -> Vec<u8> {
    tools::run_checked(
        &skopeo(),
        &[
            "--insecure-policy",
            "inspect",
            "--raw",
            "--tls-verify=false",
            reference,
        ],
    )
}
