#!/usr/bin/env bash
# Benchmark: what TPM event logging adds to a pod's start, on swtpm. Side by side, in
# one hyperfine run, from a busybox image already in the store:
#   rukt-tpm-off       rukt --tpm=off run --stage1=fly IMG --exec /bin/true
#   rukt-tpm-required  the same with --tpm=required on a private swtpm: two records
#                      (pod-prepared, app-started), each locked, appended, fsynced and
#                      extended into PCR 15 in all four banks
#   tpm2_pcrextend     one extend by tpm2-tools: the floor of one measurement with a
#                      process start (tpm2-tools loads its TCTI library on each run)
# Every rukt run gets a hyperfine --prepare of `rukt --tpm=off gc --grace-period=0s`
# (not timed), so pods do not pile up.
#
# Prints medians and the measurement's cost (required - off); target <= 5 ms.
# Not a test: it never fails on a time.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "${BENCH_DIR:-$here/bench/out/tpm}")
runs=${BENCH_RUNS:-100}
[ "$(id -u)" = 0 ] || { echo "tpm.sh: needs root (mounts, chroot)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
"$here/scripts/setup.sh" bench >/dev/null
build_release fly
rukt="$bin/rukt"
store="$work/store"

stop_swtpm() { [ -f "$work/swtpm.pid" ] && kill "$(cat "$work/swtpm.pid")" 2>/dev/null || true; }
trap 'stop_swtpm; gc_and_unmount "$store" "$work"' EXIT
mkdir -p "$work"
gc_and_unmount "$store" "$work"
no_mounts_below "$work"
rm -rf "$store" "$work/rootfs" "$work/layout" "$work/swtpm" "$work/measure.log"

make_busybox_image "$work" "$store"

# A private swtpm on a free loopback port pair (data P, control P+1).
port=$(python3 -c 'import socket
for _ in range(50):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close()
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p + 1)); t.close(); print(p); break
    except OSError:
        t.close()')
mkdir -p "$work/swtpm"
swtpm socket --tpm2 --server "type=tcp,port=$port,bindaddr=127.0.0.1" \
    --ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" --tpmstate "dir=$work/swtpm" \
    --flags not-need-init,startup-clear --daemon --pid "file=$work/swtpm.pid"
tcti="swtpm:host=127.0.0.1,port=$port"
export TPM2TOOLS_TCTI=$tcti
tpm="--tpm=required --tpm-tcti=$tcti --tpm-log=$work/measure.log"

# Sanity: both runs work, the measured one verifies.
"$rukt" --dir "$store" --tpm=off run --stage1=fly "$img" --exec /bin/true
# shellcheck disable=SC2086
"$rukt" --dir "$store" $tpm run --stage1=fly "$img" --exec /bin/true
# shellcheck disable=SC2086
"$rukt" --dir "$store" $tpm tpm verify >/dev/null
"$rukt" --dir "$store" --tpm=off gc --grace-period=0s >/dev/null

gc="$rukt --dir $store --tpm=off gc --grace-period=0s"
run="run --stage1=fly $img --exec /bin/true"
cmds=(
    -n rukt-tpm-off --prepare "sh -c '$gc >/dev/null'" "$rukt --dir $store --tpm=off $run"
    -n rukt-tpm-required --prepare "sh -c '$gc >/dev/null'" "$rukt --dir $store $tpm $run"
    -n tpm2_pcrextend --prepare true "tpm2_pcrextend 15:sha256=$(printf 'ab%.0s' $(seq 32))"
)
hyperfine -N --style basic --runs "$runs" --warmup 5 --export-json "$work/result.json" "${cmds[@]}" >&2
# The PCR was extended by tpm2_pcrextend too: the log no longer replays, as it must not.
# shellcheck disable=SC2086
{ "$rukt" --dir "$store" $tpm tpm verify || true; } | tail -1

python3 - "$work/result.json" <<'PY'
import json, sys
res = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
ms = lambda s: s * 1000
print(f"{'command':<18} {'median ms':>10}")
for k, v in res.items():
    print(f"{k:<18} {ms(v):10.2f}")
cost = res["rukt-tpm-required"] - res["rukt-tpm-off"]
print(f"measurement cost (required - off) = {ms(cost):.2f} ms for 2 records   (target <= 5 ms)")
print(f"per record                        = {ms(cost) / 2:.2f} ms   (tpm2_pcrextend, one extend with a process start: {ms(res['tpm2_pcrextend']):.2f} ms)")
PY
