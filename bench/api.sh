#!/usr/bin/env bash
# Benchmark: listing BENCH_PODS (1,000) pods, side by side:
#   api        ListPods over the service's unix socket (one grpcio channel, warm: the
#              first call is not counted), plain and detailed (with manifests)
#   rukt-list  rukt list --format json (a process per call, reading every pod)
#   podman     podman ps -a --format json with BENCH_PODS created containers
# BENCH_CALLS (200) calls of the API, BENCH_CLI_CALLS (30) of the CLIs; p50/p99 each, and
# the ratios. Also the service's RSS (idle after start, and after the listings) and
# ListenEvents delivery: a follower's receive time minus the time a journal line was
# appended (BENCH_EVENTS, 30 lines, 50 ms apart). Targets (issue 12): ListPods of 1,000
# pods <= 20 ms p50 warm, idle RSS < 10 MiB, delivery <= 50 ms. Not a test.
#
# The store: BENCH_PODS - 50 prepared pods and 50 pods that ran (fly, /bin/true), so the
# listing sees both states and exit codes. podman's containers are created, never started.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "${BENCH_DIR:-$here/bench/out/api}")
npods=${BENCH_PODS:-1000}
calls=${BENCH_CALLS:-200}
cli_calls=${BENCH_CLI_CALLS:-30}
nevents=${BENCH_EVENTS:-30}
[ "$(id -u)" = 0 ] || { echo "api.sh: needs root (pods, podman)" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
"$here/scripts/setup.sh" bench >/dev/null
build_release fly
(cd "$here" && cargo build --release -q -p rukt-api-service)
rukt="$bin/rukt"
store="$work/store"
py=/opt/rukt-test/venv/bin/python
podman_img=localhost/rukt-bench-api:latest
svc=
cleanup() {
    [ -n "$svc" ] && kill "$svc" 2>/dev/null || true
    gc_and_unmount "$store" "$work"
    podman ps -aq --filter label=rukt-bench-api | xargs -r podman rm -f >/dev/null 2>&1 || true
    podman rmi -f "$podman_img" >/dev/null 2>&1 || true
}
trap cleanup EXIT
mkdir -p "$work"
cleanup
no_mounts_below "$work"
rm -rf "$store" "$work/rootfs" "$work/layout" "$work/stubs"
make_busybox_image "$work" "$store"

echo "==> $npods pods: $((npods - 50)) prepared, 50 run (fly)" >&2
seq $((npods - 50)) | xargs -P 2 -I{} "$rukt" --dir "$store" prepare --stage1=fly --quiet "$img" >/dev/null
seq 50 | xargs -P 2 -I{} "$rukt" --dir "$store" run --stage1=fly "$img" --exec /bin/true >/dev/null
[ "$("$rukt" --dir "$store" list --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = "$npods" ]

podman_ok=
if skopeo copy -q "$img" "containers-storage:$podman_img" >/dev/null 2>&1; then
    echo "==> $npods podman containers (created)" >&2
    seq "$npods" | xargs -P 2 -I{} podman create -q --label rukt-bench-api --network none "$podman_img" /bin/true >/dev/null
    podman_ok=1
else
    echo "api.sh: podman cannot import the image; leaving it out" >&2
fi

"$py" "$here/tests/py/api_client.py" --stubs "$work/stubs" gen "$here/proto"
sock="$work/api.sock"
"$bin/rukt-api-service" --dir "$store" --listen "unix:$sock" 2>"$work/service.log" &
svc=$!
while [ ! -S "$sock" ]; do sleep 0.05; done
sleep 0.5
idle_rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$svc/status")

PYTHONPATH="$work/stubs" "$py" - "$sock" "$store" "$calls" "$cli_calls" "$nevents" "$rukt" "$podman_ok" "$svc" "$idle_rss" <<'PY'
import json, os, subprocess, sys, threading, time
import grpc
from rukt.api.v1 import api_pb2, api_pb2_grpc

sock, store, calls, cli_calls, nevents, rukt, podman_ok, svc, idle_rss = sys.argv[1:]
calls, cli_calls, nevents = int(calls), int(cli_calls), int(nevents)
ch = grpc.insecure_channel("unix:" + sock, options=[("grpc.default_authority", "localhost")])
stub = api_pb2_grpc.PublicAPIStub(ch)

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]

def timed(f, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        out.append((time.perf_counter() - t) * 1000)
    return out

rows = {}
for detail in (False, True):
    req = api_pb2.ListPodsRequest(detail=detail)
    n = len(stub.ListPods(req).pods)  # warm-up, not counted
    rows["api ListPods" + (" detail" if detail else "")] = timed(lambda: stub.ListPods(req), calls)
run = lambda cmd: subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
rows["rukt list --format json"] = timed(lambda: run([rukt, "--dir", store, "list", "--format", "json"]), cli_calls)
if podman_ok:
    rows["podman ps -a --format json"] = timed(lambda: run(["podman", "ps", "-a", "--format", "json"]), cli_calls)
rss = lambda: int([l.split()[1] for l in open(f"/proc/{svc}/status") if l.startswith("VmRSS:")][0])
busy_rss = rss()

# Event delivery: a follower's receive time minus the append time.
os.makedirs(os.path.join(store, "events"), exist_ok=True)
log = os.path.join(store, "events", "events.log")
got = []
ready = threading.Event()
def follow():
    req = api_pb2.ListenEventsRequest(filter=api_pb2.EventFilter())
    it = stub.ListenEvents(req)
    ready.set()
    for msg in it:
        now = time.time_ns()
        for e in msg.events:
            got.append((now - e.time) / 1e6)
        if len(got) >= nevents:
            it.cancel()
            return
t = threading.Thread(target=follow, daemon=True)
t.start()
ready.wait()
time.sleep(0.5)
seq0 = 10_000_000 + int(time.time())
for i in range(nevents):
    ns = time.time_ns()
    line = json.dumps({"seq": seq0 + i, "time": "1970-01-01T00:00:00Z", "time_ns": ns,
                       "type": "pod_started", "id": "bench"}) + "\n"
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    os.write(fd, line.encode())
    os.close(fd)
    time.sleep(0.05)
t.join(10)

print(f"{'':28} {'p50 ms':>9} {'p99 ms':>9}   (pods: {n})")
for k, v in rows.items():
    print(f"{k:28} {pct(v, 50):9.2f} {pct(v, 99):9.2f}   ({len(v)} calls)")
api = pct(rows["api ListPods"], 50)
print(f"rukt-list/api p50            {pct(rows['rukt list --format json'], 50) / api:.1f}x")
if podman_ok:
    print(f"podman/api p50               {pct(rows['podman ps -a --format json'], 50) / api:.1f}x")
print(f"api ListPods p50 {api:.2f} ms (target <= 20 ms)")
print(f"service RSS idle {int(idle_rss) / 1024:.2f} MiB (target < 10 MiB), after the listings {busy_rss / 1024:.2f} MiB")
if got:
    print(f"event delivery p50 {pct(got, 50):.1f} ms, p99 {pct(got, 99):.1f} ms, max {max(got):.1f} ms over {len(got)} events (target <= 50 ms)")
else:
    print("event delivery: no events received")
PY
