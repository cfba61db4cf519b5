#!/usr/bin/env bash
# Benchmark: an app writing BENCH_SIZE (1 GiB) of 100-byte lines, side by side, with
# two writers (the same bytes, both busybox from the image):
#   head     `yes LINE | head -c SIZE`: head's 4 KiB writes; the floor it sets here is
#            two to three times podman's, which bounds the ratio to podman
#   dd       `yes LINE | dd bs=64k iflag=fullblock`: 64 KiB writes, as an app with a
#            buffered stdout makes; its floor is mostly well above the loggers', so
#            these rows (named CONTENDER-dd) measure the loggers themselves
# and these contenders for each:
#   floor    the writer chrooted into the image, writing straight to a file on the
#            same disk (no supervisor at all)
#   relay    the same, but through a pipe to `dd bs=64k` that writes the file: a logger
#            that only copies (no timestamps, no rotation) with rukt's read size; an
#            app's small writes into a pipe can be cheaper than into the file, so on
#            some machines this beats the floor, and rukt/relay is then the cost of the
#            log format and rotation themselves
#   rukt     rukt run --stage1=nspawn: the supervisor reads the app's pipe, writes CRI
#            lines to logs/<app>.log (10 MiB x 5 rotation, the defaults) and copies the
#            output to its own stdout (/dev/null here)
#   podman   podman run --log-driver=k8s-file --log-opt max-size=10mb (conmon writes
#            the CRI file, capped like rukt's, and streams to the attached podman, whose
#            stdout is /dev/null)
#   rukt-base with BENCH_BASELINE=DIR (an older build's rukt and rukt-stage1-nspawn):
#            the rukt row for that build, in the same rounds, with a store of its own,
#            so a change to the log path is compared against the build before it
# Disk: at most one contender's output at a time (about BENCH_SIZE), removed after it.
# For each: wall time, throughput of the app's bytes, and the CPU time and RSS (the
# median while the app runs) of the process that logs (rukt's supervisor; conmon),
# sampled from /proc every 100 ms.
# BENCH_ROUNDS (3) rounds, alternating the order; medians; BENCH_WRITERS ("head dd")
# picks the writers. Prints, for each writer, the ratios the logs issue targets: rukt
# >= 80% of the floor's throughput and >= 2x podman's; the supervisor's RSS < 2 MiB
# while logging. Not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "${BENCH_DIR:-$here/bench/out/logs}")
size=${BENCH_SIZE:-1073741824}
rounds=${BENCH_ROUNDS:-3}
[ "$(id -u)" = 0 ] || { echo "logs.sh: needs root (namespaces, cgroups, mounts)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
"$here/scripts/setup.sh" bench >/dev/null
build_release nspawn
rukt="$bin/rukt"
store="$work/store"
baseline=${BENCH_BASELINE:+$(realpath "$BENCH_BASELINE")}
store_base="$work/store-base"
podman_img=localhost/rukt-bench-logs:latest
# As bench/nspawn.sh: runc refuses podman's default rlimits here.
podman_flags=(--rm --network none --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
cleanup() {
    if [ -d "$store" ]; then "$rukt" --dir "$store" gc --grace-period=0s >/dev/null 2>&1 || true; fi
    if [ -n "$baseline" ] && [ -d "$store_base" ]; then
        "$baseline/rukt" --dir "$store_base" gc --grace-period=0s >/dev/null 2>&1 || true
    fi
    unmount_below "$work"
    podman rmi -f "$podman_img" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mkdir -p "$work"
cleanup
no_mounts_below "$work"
rm -rf "$store" "$store_base" "$work/rootfs" "$work/layout" "$work/extracted" "$work"/*.log
make_busybox_image "$work" "$store"
"$rukt" --dir "$store" image extract "$img" "$work/extracted"
line=$(printf '%099d' 0)
[ $((size % 65536)) = 0 ] || { echo "logs.sh: BENCH_SIZE must be a multiple of 64 KiB" >&2; exit 1; }
writer_head="yes $line | head -c $size"
writer_dd="yes $line | dd bs=64k count=$((size / 65536)) iflag=fullblock status=none"
writers=(${BENCH_WRITERS:-head dd})

# sample PID OUT: until PID exits, samples PID itself (not its children) every 100 ms;
# then writes "cpu-seconds rss-kib" to OUT. The RSS is the median of the samples taken
# while PID has a child (the app, for rukt's supervisor and conmon alike) from the
# third on: the RSS while logging, not the set-up's before rukt's supervisor drops its
# set-up pages, nor the teardown's at the end.
sample() {
    local pid=$1 out=$2 ticks=0 rss stat n=0 children
    local hz
    hz=$(getconf CLK_TCK)
    : >"$out.rss"
    while stat=$(cat "/proc/$pid/stat" 2>/dev/null); do
        stat=${stat##*) }
        # shellcheck disable=SC2086
        set -- $stat
        ticks=$((${12} + ${13}))
        rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        children=$(cat /proc/"$pid"/task/*/children 2>/dev/null || true)
        n=$((n + 1))
        if [ "$n" -gt 2 ] && [ -n "${children// /}" ] && [ -n "$rss" ]; then echo "$rss" >>"$out.rss"; fi
        sleep 0.1
    done
    sort -n "$out.rss" | awk -v t="$ticks" -v hz="$hz" '{ a[NR] = $1 }
        END { printf "%.2f %d\n", t / hz, a[int((NR + 1) / 2)] }' >"$out"
}

now() { date +%s.%N; }
results="$work/results"
: >"$results"
report() { # NAME START END CPU RSS
    awk -v n="$1" -v s="$2" -v e="$3" -v c="$4" -v r="$5" -v b="$size" 'BEGIN {
        t = e - s; printf "%-12s %7.2f s %8.1f MiB/s  logger CPU %6s s  logger RSS %6s KiB\n", n, t, b / t / 1048576, c, r
    }' | tee -a "$results" >&2
}

run_floor() {
    local start
    start=$(now)
    chroot "$work/extracted" /bin/sh -c "$writer" >"$work/floor.log"
    report "floor$suffix" "$start" "$(now)" - -
    rm -f "$work/floor.log"
}

run_relay() {
    local start
    start=$(now)
    chroot "$work/extracted" /bin/sh -c "$writer" | dd bs=64k status=none >"$work/relay.log"
    report "relay$suffix" "$start" "$(now)" - -
    rm -f "$work/relay.log"
}

# rukt_row NAME RUKT STORE
rukt_row() {
    local name=$1 rukt_bin=$2 dir=$3 start end pid cpu rss
    start=$(now)
    "$rukt_bin" --dir "$dir" run --quiet "$img" \
        --name writer --exec /bin/sh -- -c "$writer" >/dev/null &
    pid=$!
    sample "$pid" "$work/$name.sample" &
    wait "$pid"
    end=$(now)
    wait
    read -r cpu rss <"$work/$name.sample"
    report "$name" "$start" "$end" "$cpu" "$rss"
    "$rukt_bin" --dir "$dir" gc --grace-period=0s >/dev/null 2>&1
}
run_rukt() { rukt_row "rukt$suffix" "$rukt" "$store"; }
run_rukt-base() { rukt_row "rukt-base$suffix" "$baseline/rukt" "$store_base"; }

run_podman() {
    local start end pid conmon="" cpu rss
    start=$(now)
    podman run "${podman_flags[@]}" --log-driver=k8s-file \
        --log-opt "path=$work/podman.log" --log-opt max-size=10mb "$podman_img" /bin/sh -c "$writer" >/dev/null </dev/null &
    pid=$!
    # conmon forks itself away at start: take the pid only once the same
    # one is seen twice, 50 ms apart (the short-lived first one read as 0 s).
    local seen=""
    for _ in $(seq 100); do
        seen=$(pgrep -n -f "conmon.*$work/podman.log" || true)
        [ -n "$seen" ] && [ "$seen" = "$conmon" ] && break
        conmon=$seen
        sleep 0.05
    done
    [ -n "$conmon" ] && sample "$conmon" "$work/podman.sample" &
    wait "$pid"
    end=$(now)
    wait
    read -r cpu rss <"$work/podman.sample" || { cpu=-; rss=-; }
    report "podman$suffix" "$start" "$end" "$cpu" "$rss"
    rm -f "$work/podman.log"
}

loggers=(floor relay rukt)
if [ -n "$baseline" ]; then
    "$baseline/rukt" --dir "$store_base" fetch -q "$img" >/dev/null
    loggers+=(rukt-base)
fi
if skopeo copy -q "$img" "containers-storage:$podman_img" >/dev/null &&
    podman run "${podman_flags[@]}" "$podman_img" /bin/true </dev/null; then
    loggers+=(podman)
else
    echo "logs.sh: podman run does not work here; leaving it out" >&2
fi
contenders=()
for w in "${writers[@]}"; do
    case $w in
    head) for l in "${loggers[@]}"; do contenders+=("$l"); done ;;
    dd) for l in "${loggers[@]}"; do contenders+=("$l-dd"); done ;;
    *) echo "logs.sh: unknown writer $w in BENCH_WRITERS (head, dd)" >&2; exit 1 ;;
    esac
done
# run CONTENDER: its logger with its writer.
run() {
    local c=$1
    suffix="" writer=$writer_head
    if [ "${c%-dd}" != "$c" ]; then suffix=-dd writer=$writer_dd; fi
    "run_${c%-dd}"
}
# The machine is shared and its load drifts: rounds, every other one in reverse order,
# and the medians over all rounds.
for r in $(seq "$rounds"); do
    echo "==> round $r of $rounds" >&2
    order=("${contenders[@]}")
    if [ $((r % 2)) = 0 ]; then
        order=()
        for ((i = ${#contenders[@]} - 1; i >= 0; i--)); do order+=("${contenders[i]}"); done
    fi
    for c in "${order[@]}"; do run "$c"; done
done

echo "==> medians of $rounds rounds ($((size >> 20)) MiB of 100-byte lines)" >&2
sort -k1,1 -k4,4n "$results" | awk '
    { n[$1]++; tp[$1, n[$1]] = $4; t[$1, n[$1]] = $2; c[$1, n[$1]] = $8; r[$1, n[$1]] = $12 }
    END {
        for (k in n) {
            m = int((n[k] + 1) / 2)
            printf "%-12s %7.2f s %8.1f MiB/s  logger CPU %6s s  logger RSS %6s KiB\n", k, t[k, m], tp[k, m], c[k, m], r[k, m]
            med[k] = tp[k, m]; rss[k] = r[k, m]
        }
        split("head dd", ws, " ")
        for (i = 1; i <= 2; i++) {
            s = ws[i] == "dd" ? "-dd" : ""
            if (!med["rukt" s]) continue
            printf "writer %s:\n", ws[i]
            if (med["floor" s]) printf "  rukt/floor throughput  %.2f (target >= 0.80)\n", med["rukt" s] / med["floor" s]
            if (med["relay" s]) printf "  rukt/relay throughput  %.2f (a plain 64 KiB copy; no target)\n", med["rukt" s] / med["relay" s]
            if (med["podman" s]) printf "  rukt/podman throughput %.2f (target >= 2)\n", med["rukt" s] / med["podman" s]
            if (med["floor" s] && med["podman" s]) printf "  floor/podman           %.2f (what bounds rukt/podman)\n", med["floor" s] / med["podman" s]
            printf "  rukt supervisor RSS while logging %s KiB (target < 2048)\n", rss["rukt" s]
            if (med["rukt-base" s]) printf "  rukt/rukt-base         %.2f (this build against BENCH_BASELINE)\n", med["rukt" s] / med["rukt-base" s]
        }
    }'
