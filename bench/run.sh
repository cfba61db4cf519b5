#!/usr/bin/env bash
# Benchmark: start-to-exit of `/bin/true` in a pod, from a busybox image already in
# the store. Side by side, in one hyperfine run:
#   rukt-fly         rukt run --stage1=fly IMG --exec /bin/true
#   rukt-gc          `rukt gc --grace-period=0s` of the one exited pod such a run leaves
#                    (run + gc is a pod's whole life)
#   overlay-chroot   the floor: unshare -m, mount an overlay of the same layer directory of
#                    the store over a fresh upper dir, chroot /bin/true
#   chroot           chroot into an extracted tree, /bin/true (no mount at all)
#   runc             runc run of an equivalent bundle (umoci unpack, args=/bin/true)
#   stage0-stub      rukt run --stage1=STUB: a shell-script stage1 that answers
#                    interface-version and exits 0 on run, i.e. stage0's own work
#                    (fetch check, prepare, overlay mount, exec) plus the stub's cost
#   stub-alone       the stub by itself (sh start-up), to subtract from stage0-stub
#   fly-probe        rukt-stage1-fly interface-version (what stage0 would pay per run
#                    without its cache of the answer)
#
# A pod that has exited keeps its overlay mounts and directory until `rukt gc`, as in
# rkt. So that pods do not pile up (and each run sees the same store), every rukt
# command gets a hyperfine --prepare of `rukt gc --grace-period=0s`: the gc runs
# before each timed run and is not counted; rukt-gc times exactly that gc (its
# --prepare runs one pod). The floor likewise starts from a fresh upper dir made in
# --prepare.
#
# Prints medians and the ratios the pods issue targets:
#   rukt-fly / overlay-chroot <= 1.5x;  runc / rukt-fly;  stage0 overhead < 5 ms.
# Not a test: it never fails on a time.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# Absolute: mounts are found by path in /proc/self/mountinfo.
work=$(realpath -m "${BENCH_DIR:-$here/bench/out/run}")
runs=${BENCH_RUNS:-100}
[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (mounts, chroot, runc)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
"$here/scripts/setup.sh" bench >/dev/null
ensure_runc
build_release fly
rukt="$bin/rukt"
store="$work/store"

# Never delete through a mount: collect pods, then lazily unmount anything left
# below the work dir, and only then remove old state.
trap 'gc_and_unmount "$store" "$work"' EXIT
mkdir -p "$work"
gc_and_unmount "$store" "$work"
no_mounts_below "$work"
rm -rf "$store" "$work/rootfs" "$work/layout" "$work/extracted" "$work/bundle" "$work/ov" "$work/runc-state"

make_busybox_image "$work" "$store"

# The floor mounts the very layer directory rukt's overlay uses.
hex=$("$rukt" --dir "$store" image inspect "$img" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["diff_id"].split(":")[1])')
lower="$store/layers/sha256/$hex/rootfs"
[ -d "$lower/bin" ] || { echo "run.sh: layer directory $lower not found" >&2; exit 1; }
"$rukt" --dir "$store" image extract "$img" "$work/extracted"

# runc: the same image as an OCI bundle.
umoci_bundle "$work" "$work/bundle"

# A stage1 that does nothing: stage0's own cost plus one sh start-up for the exec'd
# `run` (its interface-version answer is cached after the warm-up run).
stub="$work/stub-stage1"
cat >"$stub" <<'SH'
#!/bin/sh
case "$1" in
interface-version) echo 1 ;;
*) exit 0 ;;
esac
SH
chmod +x "$stub"

# Sanity: every contender really runs /bin/true successfully.
"$rukt" --dir "$store" run --stage1=fly "$img" --exec /bin/true
"$rukt" --dir "$store" run --stage1="$stub" "$img" --exec /bin/true
runc --root "$work/runc-state" run --bundle "$work/bundle" bench-sanity </dev/null
chroot "$work/extracted" /bin/true
"$rukt" --dir "$store" gc --grace-period=0s >/dev/null

# -N: no shell around the timed commands (several take only a few ms, below what
# hyperfine can correct for a shell's start-up); --prepare commands use sh -c.
gc="$rukt --dir $store gc --grace-period=0s"
run_fly="$rukt --dir $store run --stage1=fly $img --exec /bin/true"
ov="$work/ov"
cmds=(
    -n rukt-fly --prepare "sh -c '$gc >/dev/null'" "$run_fly"
    -n rukt-gc --prepare "sh -c '$gc >/dev/null && $run_fly'" "$gc"
    -n overlay-chroot --prepare "sh -c 'rm -rf $ov && mkdir -p $ov/upper $ov/work $ov/root'"
        "unshare -m sh -c 'mount -t overlay overlay -o lowerdir=$lower,upperdir=$ov/upper,workdir=$ov/work $ov/root && chroot $ov/root /bin/true'"
    -n chroot --prepare true "chroot $work/extracted /bin/true"
    -n runc --prepare true "runc --root $work/runc-state run --bundle $work/bundle bench"
    -n stage0-stub --prepare "sh -c '$gc >/dev/null'" "$rukt --dir $store run --stage1=$stub $img --exec /bin/true"
    -n stub-alone --prepare true "$stub run 00000000-0000-4000-8000-000000000000"
    -n fly-probe --prepare true "$bin/rukt-stage1-fly interface-version"
)
hyperfine -N --style basic --runs "$runs" --warmup 5 --export-json "$work/result.json" "${cmds[@]}" >&2

python3 - "$work/result.json" <<'PY'
import json, sys
res = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
ms = lambda s: s * 1000
print(f"{'command':<16} {'median ms':>10}")
for k, v in res.items():
    print(f"{k:<16} {ms(v):10.2f}")
rukt, floor = res["rukt-fly"], res["overlay-chroot"]
stage0, stub = res["stage0-stub"], res["stub-alone"]
print(f"rukt-fly / overlay-chroot = {rukt / floor:.2f}x   (target <= 1.5x)")
print(f"rukt-fly / chroot         = {rukt / res['chroot']:.2f}x")
print(f"runc / rukt-fly           = {res['runc'] / rukt:.2f}x")
print(f"pod life (run + gc)       = {ms(rukt + res['rukt-gc']):.2f} ms   (runc / that = {res['runc'] / (rukt + res['rukt-gc']):.2f}x)")
print(f"stage0 overhead           = {ms(stage0):.2f} ms   (target < 5 ms; rukt run with the stub stage1, stub included)")
print(f"  without the stub        = {ms(stage0 - stub):.2f} ms   (the stub is a sh start-up, {ms(stub):.2f} ms, exec'd once;")
print(f"                                       stage0 caches the interface-version answer, which costs {ms(res['fly-probe']):.2f} ms uncached)")
PY
