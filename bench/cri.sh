#!/usr/bin/env bash
# Benchmark: the CRI path, containerd 1.6 + runc (Debian) against rukt's CRI server, side by
# side in one run, each in the namespaces of scripts/cri-env.sh (nothing touches this
# machine's interfaces or firewall) with the stand-in images of scripts/critest-images.sh:
#   RunPodSandbox                      a pod with its network (bridge + host-local on 10.88/16)
#   CreateContainer+StartContainer     busybox `sleep 3600` in it (kubelet's default namespaces:
#                                      the pod's network and IPC, a PID namespace per container)
#   ExecSync                           `/bin/true`, BENCH_EXECS (10) per pod
#   StopPodSandbox+RemovePodSandbox
# for BENCH_PODS (10) pods after one warm-up pod, every call timed by one Python gRPC client
# on one channel (bench/cri-bench.py, grpcio from the test venv, stubs from cri-api
# v0.36.0's api.proto): p50 and p90 per runtime and the ratio rukt / containerd. A client in
# process, not crictl or critest -benchmark: crictl pays a 40 MB Go process start per call,
# which would swamp ExecSync; critest's benchmarks have no ExecSync and time whole
# lifecycles. Then memory and processes: the daemon's RSS idle, and with all the pods running
# the processes each pod adds (containerd: its shim and the pause process; rukt: its
# supervisors) and their RSS and PSS (shared pages split), the containers' own `sleep` apart.
#
#   bench/cri.sh [--rukt-bin PATH] [--handler nspawn|kvm|fly]
#
# rukt's CRI server is built in release mode when the workspace has it (a `rukt-cri` binary
# or a `rukt cri` subcommand); without it the containerd half runs alone and says so.
# Not a test: it never fails on a time.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "${BENCH_DIR:-$here/bench/out/cri}")
rukt_bin= handler=
while [ $# -gt 0 ]; do
    case "$1" in
    --rukt-bin) rukt_bin=${2:?}; shift 2 ;;
    --handler) handler=${2:?}; shift 2 ;;
    *) echo "usage: bench/cri.sh [--rukt-bin PATH] [--handler nspawn|kvm|fly]" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "cri.sh: needs root" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
"$here/scripts/setup.sh" bench >/dev/null
py=/opt/rukt-test/venv/bin/python
mkdir -p "$work"
rm -f "$work"/*.json "$work"/*-daemon.log "$work/rukt.why"

# rukt's CRI server, release: only when this workspace has one.
if [ -z "$rukt_bin" ]; then
    cri_pkg=$( (cd "$here" && cargo metadata --no-deps --format-version 1 -q) |
        python3 -c 'import json,sys; print(" ".join(p["name"] for p in json.load(sys.stdin)["packages"] if any(t["name"] == "rukt-cri" for t in p["targets"])))')
    if [ -n "$cri_pkg" ]; then
        echo "==> building $cri_pkg (rukt-cri), rukt and the stage1s (release)" >&2
        stage1s=(nspawn fly)
        [ "$handler" = kvm ] && stage1s+=(kvm)
        build_release "${stage1s[@]}"
        (cd "$here" && cargo build --release -q -p "$cri_pkg")
        [ "$handler" = kvm ] && (cd "$here" && cargo build --release -q -p rukt-kvm-init)
        rukt_bin=$bin/rukt-cri
    elif [ -f "$here/stage0/src/cmd/cri.rs" ]; then
        stage1s=(nspawn fly)
        [ "$handler" = kvm ] && stage1s+=(kvm)
        build_release "${stage1s[@]}"
        rukt_bin=$bin/rukt
    fi
fi
rukt_ok=1
if ! "$here/scripts/cri-env.sh" rukt --check ${rukt_bin:+--rukt-bin "$rukt_bin"} >/dev/null 2>"$work/rukt.why"; then
    rukt_ok=
    echo "cri.sh: $(cat "$work/rukt.why"); measuring containerd alone" >&2
fi

# The CRI stubs for the client, from cri-api v0.36.0 (the proto critest v1.36.0 speaks).
stubs="$work/stubs"
if [ ! -f "$stubs/api_pb2_grpc.py" ]; then
    proto=$(go mod download -json k8s.io/cri-api@v0.36.0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')/pkg/apis/runtime/v1
    mkdir -p "$stubs"
    "$py" -m grpc_tools.protoc -I "$proto" --python_out="$stubs" --grpc_python_out="$stubs" "$proto/api.proto"
fi

runtimes=(containerd)
[ -n "$rukt_ok" ] && runtimes+=(rukt)
for rt in "${runtimes[@]}"; do
    echo "==> $rt: ${BENCH_PODS:-10} pods, ${BENCH_EXECS:-10} ExecSync each" >&2
    "$here/scripts/cri-env.sh" "$rt" ${handler:+--handler "$handler"} ${rukt_bin:+--rukt-bin "$rukt_bin"} \
        --log "$work" -- "$py" "$here/bench/cri-bench.py" "$stubs" "$work/$rt.json"
done

python3 - "$work" "$rukt_ok" <<'PY'
import json, os, sys
work, rukt_ok = sys.argv[1], sys.argv[2]
res = {}
for rt in ("containerd", "rukt"):
    p = os.path.join(work, rt + ".json")
    if os.path.exists(p):
        res[rt] = json.load(open(p))

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]

rts = list(res)
print()
for rt in rts:
    r = res[rt]
    print(f"{rt}: {r['version']}{' handler ' + r['handler'] if r['handler'] else ''}, {r['pods']} pods")
if not rukt_ok:
    why = open(os.path.join(work, "rukt.why")).read().strip()
    print(f"rukt: not measured ({why})")
print()
hdr = f"{'call (ms)':34}" + "".join(f"{rt + ' p50':>15}{rt + ' p90':>15}" for rt in rts)
if len(rts) == 2:
    hdr += f"{'ratio p50':>11}"
print(hdr)
for key in ("RunPodSandbox", "CreateContainer", "StartContainer", "CreateContainer+StartContainer",
            "ExecSync", "StopPodSandbox+RemovePodSandbox"):
    row = f"{key:34}"
    p50 = []
    for rt in rts:
        xs = res[rt]["samples_ms"][key]
        p50.append(pct(xs, 50))
        row += f"{pct(xs, 50):15.1f}{pct(xs, 90):15.1f}"
    if len(rts) == 2:
        row += f"{p50[1] / p50[0]:10.2f}x"
    print(row)
print()
print(f"{'memory and processes':34}" + "".join(f"{rt:>15}" for rt in rts) + (f"{'ratio':>11}" if len(rts) == 2 else ""))
rows = [
    ("daemon RSS idle (MiB)", lambda r: r["daemon_idle_rss_kb"] / 1024),
    ("daemon RSS, pods running (MiB)", lambda r: r["daemon_rss_with_pods_kb"] / 1024),
    ("processes per pod", lambda r: r["added_processes"] / r["pods"]),
    ("runtime RSS per pod (MiB)", lambda r: r["added_runtime_rss_kb"] / r["pods"] / 1024),
    ("runtime PSS per pod (MiB)", lambda r: r["added_runtime_pss_kb"] / r["pods"] / 1024),
    ("daemon + per-pod RSS, 10 pods (MiB)",
     lambda r: (r["daemon_rss_with_pods_kb"] + 10 * r["added_runtime_rss_kb"] / r["pods"]) / 1024),
]
for name, f in rows:
    vals = [f(res[rt]) for rt in rts]
    line = f"{name:34}" + "".join(f"{v:15.1f}" for v in vals)
    if len(rts) == 2 and vals[0]:
        line += f"{vals[1] / vals[0]:10.2f}x"
    print(line)
print()
for rt in rts:
    r = res[rt]
    per = ", ".join(f"{k} x{v['count'] / r['pods']:g} ({v['rss_kb'] / v['count'] / 1024:.1f} MiB each)"
                    for k, v in r["added_by_name"].items())
    print(f"{rt}: idle {', '.join(r['idle_processes'])}; each pod adds {per}")
PY
