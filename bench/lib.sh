# shellcheck shell=bash
# Shell helpers shared by the pod benchmarks (bench/run.sh, bench/nspawn.sh).
# Sourced, not run. Expects `here` (the repository) to be set.
: "${here:?bench/lib.sh needs here= (the repository)}"

# The release binaries, built once: rukt and the stage1s given as arguments.
# Honours CARGO_TARGET_DIR; sets `bin` to the directory holding them.
build_release() {
    local pkgs=(-p rukt) s
    for s in "$@"; do pkgs+=(-p "rukt-stage1-$s"); done
    (cd "$here" && cargo build --release -q "${pkgs[@]}")
    bin=$(realpath -m "${CARGO_TARGET_DIR:-$here/target}")/release
}

# runc from Debian, if missing (machine.md: runc 1.1.5 works here).
ensure_runc() {
    if ! command -v runc >/dev/null; then
        echo "installing runc (machine.md: runc 1.1.5 works here)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends runc >/dev/null
    fi
}

# Never delete through a mount: lazily unmount everything mounted at or below
# DIR, deepest first.
unmount_below() {
    [ -d "$1" ] || return 0
    local dir
    dir=$(realpath "$1")
    awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
        sort -r | while read -r m; do umount -l "$(printf '%b' "$m")" 2>/dev/null || true; done
}

# Collects every exited pod of the store STORE (if it exists) with the rukt in
# `bin`, then unmounts what is left below WORK.
gc_and_unmount() {
    local store=$1 work=$2
    if [ -d "$store" ]; then
        "$bin/rukt" --dir "$store" gc --grace-period=0s >/dev/null 2>&1 || true
    fi
    unmount_below "$work"
}

# Fails if anything is still mounted below DIR (then nothing may be removed).
no_mounts_below() {
    if awk -v d="$(realpath "$1")" 'index($5, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        echo "$(basename "$0"): mounts remain below $1; not removing anything" >&2
        return 1
    fi
}

# The benchmark image, as scripts/demo.sh makes it: a busybox rootfs in
# WORK/rootfs, an OCI layout WORK/layout with tag `bench`, fetched into the
# store STORE. Sets `img` to its reference.
make_busybox_image() {
    local work=$1 store=$2
    echo "==> making a busybox image (as scripts/demo.sh)" >&2
    "$here/scripts/busybox-rootfs.sh" "$work/rootfs"
    python3 "$here/scripts/mkimage.py" "$work/layout" bench --cmd '["/bin/true"]' "$work/rootfs:." >/dev/null
    img="oci:$work/layout:bench"
    "$bin/rukt" --dir "$store" fetch -q "$img" >/dev/null
}

# An OCI bundle of the benchmark image in DIR (umoci unpack), running
# /bin/true without a terminal.
umoci_bundle() {
    local work=$1 dir=$2
    umoci unpack --image "$work/layout:bench" "$dir" >/dev/null
    python3 - "$dir/config.json" <<'PY'
import json, sys
p = sys.argv[1]
c = json.load(open(p))
c["process"]["args"] = ["/bin/true"]
c["process"]["terminal"] = False
json.dump(c, open(p, "w"), indent=1)
PY
}
