#!/usr/bin/env bash
# Socket activation's cost per engine: `systemd-socket-activate -l
# 127.0.0.1:PORT` in front of an app that accepts on fd 3 and sends
# BENCH_MIB MiB (rukt-inspector serve-fd3), run directly on the host (the
# floor: the descriptor handed to a process), in an nspawn pod (the same
# descriptor, handed through) and in a kvm pod (the supervisor proxies the
# connection over the VM's control port). Prints, per row, the time to the
# first answer (it includes starting the pod) and the transfer's throughput,
# with ratios to the floor. Not a timed test: nothing fails on a number.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "${BENCH_DIR:-$here/bench/out/activation}")
mib=${BENCH_MIB:-256}
rounds=${BENCH_ROUNDS:-3}
[ "$(id -u)" = 0 ] || { echo "activation.sh: needs root" >&2; exit 1; }
. "$here/bench/lib.sh"
"$here/scripts/setup.sh" bench >/dev/null
(cd "$here" && cargo build --release -q -p rukt -p rukt-stage1-nspawn -p rukt-stage1-kvm -p rukt-kvm-init)
bin=$(realpath -m "${CARGO_TARGET_DIR:-$here/target}")/release
triple=$(uname -m)-unknown-linux-gnu
(cd "$here" && RUSTFLAGS="-C target-feature=+crt-static" cargo build --release -q --target "$triple" -p rukt-inspector)
inspector=$(realpath -m "${CARGO_TARGET_DIR:-$here/target}")/$triple/release/rukt-inspector
rukt="$bin/rukt"
store="$work/store"
cleanup() {
    if [ -d "$store" ]; then "$rukt" --dir "$store" gc --grace-period=0s >/dev/null 2>&1 || true; fi
    unmount_below "$work"
}
trap cleanup EXIT
mkdir -p "$work"
cleanup
rm -rf "$store" "$work/rootfs" "$work/layout"
"$here/scripts/busybox-rootfs.sh" "$work/rootfs"
install -D -m 0755 "$inspector" "$work/rootfs/usr/bin/rukt-inspector"
python3 "$here/scripts/mkimage.py" "$work/layout" bench --cmd '["/bin/true"]' "$work/rootfs:." >/dev/null
img="oci:$work/layout:bench"
"$rukt" --dir "$store" fetch -q "$img" >/dev/null
# The kvm accelerator, probed once (TCG on hosts whose KVM cannot run the guest).
"$rukt" --dir "$store" run --stage1=kvm --net=none --kvm-accel=auto "$img" --exec /bin/true >/dev/null
accel=$(cat "$store"/cache/stage1-kvm/accel-*)

port=47900
measure() { # NAME COMMAND...
    local name=$1; shift
    port=$((port + 1))
    systemd-socket-activate -l "127.0.0.1:$port" --fdname=web "$@" >/dev/null 2>"$work/$name.err" &
    local pid=$!
    python3 - "$port" "$mib" "$name" <<'PY'
import socket, sys, time
port, mib, name = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
start = time.monotonic()
while True:
    try:
        s = socket.create_connection(("127.0.0.1", port))
        break
    except OSError:
        time.sleep(0.005)
f = s.makefile("rb")
f.readline()
first = time.monotonic()
n = 0
while True:
    b = f.read(1 << 20)
    if not b:
        break
    n += len(b)
end = time.monotonic()
assert n == mib << 20, f"{name}: got {n} bytes"
print(f"{name} {first - start:.4f} {n / (end - first) / 1048576:.1f}")
PY
    wait "$pid" || true
}

results="$work/results"
: >"$results"
for r in $(seq "$rounds"); do
    echo "==> round $r of $rounds ($mib MiB per transfer, kvm accel $accel)" >&2
    measure host "$inspector" serve-fd3 "$mib" >>"$results"
    measure nspawn "$rukt" --dir "$store" run --net=none "$img" --name web \
        --exec /usr/bin/rukt-inspector -- serve-fd3 "$mib" >>"$results"
    measure kvm "$rukt" --dir "$store" run --stage1=kvm --kvm-accel="$accel" --net=none "$img" \
        --name web --exec /usr/bin/rukt-inspector -- serve-fd3 "$mib" >>"$results"
    "$rukt" --dir "$store" gc --grace-period=0s >/dev/null 2>&1 || true
done
echo
python3 - "$results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, first, mibs = line.split()
    rows.setdefault(name, []).append((float(first), float(mibs)))
floor = statistics.median(m for _, m in rows["host"])
print(f"{'':8} {'first answer':>14} {'throughput':>14} {'vs the host':>12}")
for name in ("host", "nspawn", "kvm"):
    f = statistics.median(x for x, _ in rows[name])
    m = statistics.median(y for _, y in rows[name])
    print(f"{name:8} {f * 1000:11.1f} ms {m:9.1f} MiB/s {m / floor:11.3f}x")
PY
