#!/usr/bin/env bash
# What a logging supervisor keeps mapped, and why: runs one nspawn pod whose app
# writes BENCH_SIZE (400 MB) of lines under `perf record -e page-faults -c 1`,
# and lists the supervisor's page faults from its memory trim to the app's end.
# Each fault maps up to 64 KiB around it (the kernel's fault-around), so every
# line is up to 64 KiB of RSS while logging (bench/logs.sh measures the RSS).
# A fault in the binary's text outside `.text.rukt_hot` names a function that
# stage1-nspawn/hot.ld should list (src/memory.rs says why). Not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "${BENCH_DIR:-$here/bench/out/logs-faults}")
size=${BENCH_SIZE:-400000000}
[ "$(id -u)" = 0 ] || { echo "logs-faults.sh: needs root (namespaces, cgroups, mounts)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
"$here/scripts/setup.sh" bench >/dev/null
build_release nspawn
store="$work/store"
trap 'gc_and_unmount "$store" "$work"' EXIT
mkdir -p "$work"
gc_and_unmount "$store" "$work"
no_mounts_below "$work"
rm -rf "$store" "$work/rootfs" "$work/layout" "$work/symfs" "$work"/perf.data*
make_busybox_image "$work" "$store"
line=$(printf '%099d' 0)
perf record -q -c 1 -e page-faults -e sched:sched_process_exit -d -o "$work/perf.data" -- \
    "$bin/rukt" --dir "$store" run --net=none --quiet "$img" --exec /bin/sh -- \
    -c "yes $line | head -c $size" >/dev/null
# The supervisor runs its binary under a path of the pod's mount namespace:
# perf finds the symbols through a symfs holding it there.
mkdir -p "$work/symfs"
dso=$(perf script -i "$work/perf.data" -F ip,dso 2>/dev/null | grep -o '(/[^)]*rukt-stage1-nspawn)' | sort -u | tail -n 1 | tr -d '()')
mkdir -p "$work/symfs$(dirname "$dso")"
ln -sf "$bin/rukt-stage1-nspawn" "$work/symfs$dso"
ln -sfn /usr "$work/symfs/usr"
perf script -i "$work/perf.data" --symfs="$work/symfs" --no-demangle -F pid,event,ip,sym,dso,addr 2>/dev/null |
    python3 "$here/bench/logs-faults.py" "$bin/rukt-stage1-nspawn"
