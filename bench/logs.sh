#!/usr/bin/env bash
# Benchmark: an app writing BENCH_SIZE (1 GiB) of 100-byte lines, side by side:
#   floor    the same busybox pipeline chrooted into the image, writing straight to a
#            file on the same disk (no supervisor at all)
#   rukt     rukt run --stage1=nspawn: the supervisor reads the app's pipe, writes CRI
#            lines to logs/<app>.log (10 MiB x 5 rotation, the defaults) and copies the
#            output to its own stdout (/dev/null here)
#   podman   podman run --log-driver=k8s-file (conmon writes the CRI file and streams
#            to the attached podman, whose stdout is /dev/null)
# For each: wall time, throughput of the app's bytes, and the CPU time and peak RSS of
# the process that logs (rukt's supervisor; conmon), sampled from /proc every 100 ms.
# Prints the ratios the logs issue targets: rukt >= 80% of the floor's throughput and
# >= 2x podman's; the supervisor's RSS < 2 MiB while logging. Not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "${BENCH_DIR:-$here/bench/out/logs}")
size=${BENCH_SIZE:-1073741824}
[ "$(id -u)" = 0 ] || { echo "logs.sh: needs root (namespaces, cgroups, mounts)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
"$here/scripts/setup.sh" bench >/dev/null
build_release nspawn
rukt="$bin/rukt"
store="$work/store"
podman_img=localhost/rukt-bench-logs:latest
cleanup() {
    if [ -d "$store" ]; then "$rukt" --dir "$store" gc --grace-period=0s >/dev/null 2>&1 || true; fi
    unmount_below "$work"
    podman rmi -f "$podman_img" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mkdir -p "$work"
cleanup
no_mounts_below "$work"
rm -rf "$store" "$work/rootfs" "$work/layout" "$work/extracted" "$work"/*.log
make_busybox_image "$work" "$store"
"$rukt" --dir "$store" image extract "$img" "$work/extracted"
line=$(printf '%099d' 0)
writer="yes $line | head -c $size"

# sample PID OUT: until PID exits, keeps "cpu-seconds max-rss-kib" of PID itself (not
# its children) in OUT.
sample() {
    local pid=$1 out=$2 max=0 ticks=0 rss stat
    local hz
    hz=$(getconf CLK_TCK)
    while stat=$(cat "/proc/$pid/stat" 2>/dev/null); do
        stat=${stat##*) }
        # shellcheck disable=SC2086
        set -- $stat
        ticks=$((${12} + ${13}))
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        [ "${rss:-0}" -gt "$max" ] && max=$rss
        echo "$(awk -v t="$ticks" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }') $max" >"$out"
        sleep 0.1
    done
}

now() { date +%s.%N; }
results="$work/results"
: >"$results"
report() { # NAME START END CPU RSS
    awk -v n="$1" -v s="$2" -v e="$3" -v c="$4" -v r="$5" -v b="$size" 'BEGIN {
        t = e - s; printf "%-7s %7.2f s %8.1f MiB/s  logger CPU %6s s  logger RSS %6s KiB\n", n, t, b / t / 1048576, c, r
    }' | tee -a "$results" >&2
}

echo "==> floor: straight to a file" >&2
start=$(now)
chroot "$work/extracted" /bin/sh -c "$writer" >"$work/floor.log"
report floor "$start" "$(now)" - -

echo "==> rukt run --stage1=nspawn" >&2
start=$(now)
"$rukt" --dir "$store" run --quiet --uuid-file-save "$work/rukt.uuid" "$img" \
    --name writer --exec /bin/sh -- -c "$writer" >/dev/null &
pid=$!
sample "$pid" "$work/rukt.sample" &
wait "$pid"
end=$(now)
wait
read -r cpu rss <"$work/rukt.sample"
report rukt "$start" "$end" "$cpu" "$rss"
pod=$(find "$store/pods" -maxdepth 2 -name "$(cat "$work/rukt.uuid")" | head -1)
ls -l "$pod/logs" >&2

if skopeo copy -q "$img" "containers-storage:$podman_img" >/dev/null &&
    podman run --rm --network none --runtime runc "$podman_img" /bin/true </dev/null; then
    echo "==> podman run --log-driver=k8s-file" >&2
    start=$(now)
    podman run --rm --network none --runtime runc --log-driver=k8s-file \
        --log-opt "path=$work/podman.log" "$podman_img" /bin/sh -c "$writer" >/dev/null </dev/null &
    pid=$!
    conmon=""
    for _ in $(seq 100); do
        conmon=$(pgrep -n -f "conmon.*$work/podman.log" || true)
        [ -n "$conmon" ] && break
        sleep 0.05
    done
    [ -n "$conmon" ] && sample "$conmon" "$work/podman.sample" &
    wait "$pid"
    end=$(now)
    wait
    read -r cpu rss <"$work/podman.sample" || { cpu=-; rss=-; }
    report podman "$start" "$end" "$cpu" "$rss"
else
    echo "logs.sh: podman run does not work here; leaving it out" >&2
fi

echo "==> side by side ($((size >> 20)) MiB of 100-byte lines)" >&2
cat "$results"
awk '{ tp[$1] = $4 } END {
    if (tp["floor"]) printf "rukt/floor throughput  %.2f (target >= 0.80)\n", tp["rukt"] / tp["floor"]
    if (tp["podman"]) printf "rukt/podman throughput %.2f (target >= 2)\n", tp["rukt"] / tp["podman"]
}' "$results"
