#!/usr/bin/env bash
# Benchmark: what pod networking costs, side by side in one hyperfine run per row group,
# all inside a network namespace standing in for the host (nothing touches this machine's
# own interfaces or firewall):
#   none           rukt run --net=none IMG --exec /bin/true     (loopback only: the floor)
#   default        rukt run --net=default IMG --exec /bin/true  (bridge + host-local + masquerade)
#   default-port   the same with -p 18080:80                    (+ portmap)
#   podman-none    podman run --rm --network none (runc)
#   podman-bridge  podman run --rm --network bridge (netavark, Debian's 1.4, with storage
#                  of its own under the work directory)
#   podman-port    the same with -p 18081:80
# Each run includes the network's setup *and* its teardown (rukt's supervisor detaches
# before `rukt run` returns; podman's --rm the same), so "adds" below is setup + teardown,
# stricter than the issue's "adds to a pod's start". Then the recovery path:
#   gc-teardown    `rukt gc` of a networked pod whose stage1 was killed with SIGKILL
#                  (DEL replayed from the pod's record), against
#   podman-rm      `podman rm -f` of a running bridge-networked container.
# And TCP throughput (iperf3, 5 s), no target: nspawn pod <-> nspawn pod on `default`, a kvm
# pod's guest -> an nspawn pod, and the floor, two plain veth-connected namespaces.
# Prints medians, differences and ratios against the issue's targets:
#   default adds <= 60 ms, with one port <= 100 ms (netavark measured 60 and 103 ms here);
#   gc teardown no slower than podman's.
# Not a test: it never fails on a time.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "${BENCH_DIR:-$here/bench/out/net}")
runs=${BENCH_RUNS:-30}
podman_runs=${BENCH_PODMAN_RUNS:-10}
[ "$(id -u)" = 0 ] || { echo "net.sh: needs root" >&2; exit 1; }
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
"$here/scripts/setup.sh" bench >/dev/null
ensure_runc
build_release nspawn kvm
# The kvm guest init (the throughput row boots a kvm pod).
(cd "$here" && cargo build --release -q -p rukt-kvm-init)
rukt="$bin/rukt"
store="$work/store"
config="$work/config"
ns=rukt-bench-net
nsx=(nsenter "--net=/run/netns/$ns" --)
podman_img=localhost/rukt-bench-net:latest
# podman with netavark and storage of its own (this host's podman may default to CNI).
podman_store=(--root "$work/podman/root" --runroot "$work/podman/run" --storage-driver overlay
    --network-backend netavark)
podman_cmd="podman ${podman_store[*]}"
podman_flags=(--rm --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

cleanup() {
    local f
    # Pods still running (an iperf3 server whose client failed): stopped first, so gc can
    # collect them and nothing outlives the work directory.
    for f in "$work"/*.uuid; do
        if [ -s "$f" ]; then
            "${nsx[@]}" "$rukt" --dir "$store" stop --force --uuid-file "$f" >/dev/null 2>&1 || true
            "${nsx[@]}" "$rukt" --dir "$store" status --wait=10s --uuid-file "$f" >/dev/null 2>&1 || true
        fi
    done
    "${nsx[@]}" "$rukt" --dir "$store" gc --grace-period=0s >/dev/null 2>&1 || true
    "${nsx[@]}" $podman_cmd rm -f -t 0 rukt-bench-net-victim >/dev/null 2>&1 || true
    $podman_cmd rmi -f "$podman_img" >/dev/null 2>&1 || true
    ip netns del "$ns" 2>/dev/null || true
    ip netns del rukt-bench-a 2>/dev/null || true
    ip netns del rukt-bench-b 2>/dev/null || true
    unmount_below "$work"
}
trap cleanup EXIT
cleanup
no_mounts_below "$work" && rm -rf "$work"
mkdir -p "$work" "$config/net.d"
ip netns add "$ns"
"${nsx[@]}" ip link set lo up
make_busybox_image "$work" "$store"
r="$rukt --dir $store --config-dir $config"
run_img="$img --exec /bin/true"

have_podman=1
if ! skopeo copy -q "$img" "containers-storage:[overlay@$work/podman/root+$work/podman/run]$podman_img" >/dev/null ||
    ! "${nsx[@]}" $podman_cmd run "${podman_flags[@]}" --network bridge "$podman_img" /bin/true </dev/null; then
    echo "net.sh: podman run --network bridge does not work here; leaving podman out" >&2
    have_podman=0
fi

echo "==> start to exit, setup and teardown included ($runs runs each)" >&2
"${nsx[@]}" hyperfine -N --style basic --runs "$runs" --warmup 3 --export-json "$work/rukt.json" \
    --prepare "$r gc --grace-period=0s" \
    -n none "$r run --net=none $run_img" \
    -n default "$r run --net=default $run_img" \
    -n default-port "$r run --net=default -p 18080:80 $run_img" >&2
if [ "$have_podman" = 1 ]; then
    "${nsx[@]}" hyperfine -N --style basic --runs "$podman_runs" --warmup 1 --export-json "$work/podman.json" \
        -n podman-none "$podman_cmd run ${podman_flags[*]} --network none $podman_img /bin/true" \
        -n podman-bridge "$podman_cmd run ${podman_flags[*]} --network bridge $podman_img /bin/true" \
        -n podman-port "$podman_cmd run ${podman_flags[*]} --network bridge -p 18081:80 $podman_img /bin/true" >&2
fi

echo "==> setup and teardown apart: the supervisor's own timings (rukt --debug), $runs runs each" >&2
split="$work/split.txt"
: >"$split"
for flags in "--net=default" "--net=default -p 18084:80"; do
    for _ in $(seq "$runs"); do
        "${nsx[@]}" $r --debug run $flags $run_img 2>&1 >/dev/null |
            sed -n "s/.*networks \(up\|down\) elapsed_us=\([0-9]*\).*/${flags// /_} \1 \2/p" >>"$split"
    done
    $r gc --grace-period=0s >/dev/null 2>&1 || true
done

echo "==> teardown of a killed pod by rukt gc, and podman rm -f" >&2
victim="$work/victim.sh"
cat >"$victim" <<SH
#!/bin/sh
# A networked pod with a published port, its stage1 then killed with SIGKILL.
$r gc --grace-period=0s >/dev/null 2>&1
$r run --net=default -p 18082:80 --uuid-file-save $work/victim.uuid $img --exec /bin/sleep -- 100 >/dev/null 2>&1 &
# Killed once its app runs (the pod's ready file), not while it is being set up.
until [ -s $work/victim.uuid ] && [ -e "$store/pods/run/\$(cat $work/victim.uuid)/ready" ]; do sleep 0.01; done
kill -9 "\$($r status --uuid-file $work/victim.uuid | sed -n 's/^pid=//p')"
while $r status --uuid-file $work/victim.uuid | grep -q '^state=running'; do sleep 0.01; done
SH
chmod +x "$victim"
"${nsx[@]}" hyperfine -N --style basic --runs 10 --export-json "$work/gc.json" \
    --prepare "$victim" -n gc-teardown "$r gc --grace-period=0s" >&2
if [ "$have_podman" = 1 ]; then
    "${nsx[@]}" hyperfine -N --style basic --runs 5 --export-json "$work/podman-rm.json" \
        --prepare "$podman_cmd run -d --name rukt-bench-net-victim ${podman_flags[*]/--rm/} --network bridge -p 18083:80 $podman_img /bin/sleep 100" \
        -n podman-rm "$podman_cmd rm -f -t 0 rukt-bench-net-victim" >&2
fi

echo "==> TCP throughput (iperf3, 5 s)" >&2
pod_tput=n/a
kvm_tput=n/a
floor_tput=n/a
if command -v iperf3 >/dev/null; then
    mkdir -p "$work/iperf/bin"
    cp "$(command -v iperf3)" "$work/iperf/bin/"
    # iperf3 is dynamic: the pod gets it with the host's /lib and /usr/lib read-only.
    srv_flags=(--net=default --volume lib,kind=host,source=/lib,readOnly=true
        --volume lib64,kind=host,source=/lib64,readOnly=true
        --volume usrlib,kind=host,source=/usr/lib,readOnly=true
        --volume iperf,kind=host,source="$work/iperf/bin",readOnly=true)
    app_mounts=(--mount volume=lib,target=/lib --mount volume=lib64,target=/lib64
        --mount volume=usrlib,target=/usr/lib
        --mount volume=iperf,target=/opt/iperf)
    "${nsx[@]}" $r run "${srv_flags[@]}" --uuid-file-save "$work/srv.uuid" "$img" "${app_mounts[@]}" \
        --exec /opt/iperf/iperf3 -- -s -1 >/dev/null 2>&1 &
    while ! "${nsx[@]}" $r status --uuid-file "$work/srv.uuid" 2>/dev/null | grep -q '^networks='; do sleep 0.05; done
    sleep 0.5
    srv_ip=$("${nsx[@]}" $r status --uuid-file "$work/srv.uuid" | sed -n 's/^networks=default:ip4=//p')
    pod_tput=$("${nsx[@]}" $r run "${srv_flags[@]}" "$img" "${app_mounts[@]}" \
        --exec /opt/iperf/iperf3 -- -c "$srv_ip" -t 5 -J 2>/dev/null |
        python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' || echo n/a)
    # The same from a kvm pod's guest (virtio-net on a tap redirected to its link; TCG here).
    "${nsx[@]}" $r run "${srv_flags[@]}" --uuid-file-save "$work/srv2.uuid" "$img" "${app_mounts[@]}" \
        --exec /opt/iperf/iperf3 -- -s -1 >/dev/null 2>&1 &
    while ! "${nsx[@]}" $r status --uuid-file "$work/srv2.uuid" 2>/dev/null | grep -q '^networks='; do sleep 0.05; done
    sleep 0.5
    srv_ip=$("${nsx[@]}" $r status --uuid-file "$work/srv2.uuid" | sed -n 's/^networks=default:ip4=//p')
    kvm_tput=$("${nsx[@]}" $r run --stage1=kvm "${srv_flags[@]}" "$img" "${app_mounts[@]}" \
        --exec /opt/iperf/iperf3 -- -c "$srv_ip" -t 5 -J 2>/dev/null |
        python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' || echo n/a)
    ip netns add rukt-bench-a && ip netns add rukt-bench-b
    ip link add bench-va netns rukt-bench-a type veth peer name bench-vb netns rukt-bench-b
    ip -n rukt-bench-a addr add 10.216.0.1/24 dev bench-va && ip -n rukt-bench-a link set bench-va up
    ip -n rukt-bench-b addr add 10.216.0.2/24 dev bench-vb && ip -n rukt-bench-b link set bench-vb up
    ip netns exec rukt-bench-a iperf3 -s -1 -D
    sleep 0.5
    floor_tput=$(ip netns exec rukt-bench-b iperf3 -c 10.216.0.1 -t 5 -J |
        python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))' || echo n/a)
fi

python3 - "$work" "$pod_tput" "$floor_tput" "$kvm_tput" <<'PY'
import json, os, statistics, sys
work, pod_tput, floor_tput, kvm_tput = sys.argv[1:5]
split = {}
for line in open(os.path.join(work, "split.txt")):
    flags, what, us = line.split()
    split.setdefault((flags, what), []).append(int(us) / 1000)
res = {}
for f in ("rukt.json", "podman.json", "gc.json", "podman-rm.json"):
    p = os.path.join(work, f)
    if os.path.exists(p):
        for r in json.load(open(p))["results"]:
            res[r["command"]] = r["median"] * 1000
print(f"{'row':<15} {'median ms':>10}")
for k in ("none", "default", "default-port", "podman-none", "podman-bridge", "podman-port", "gc-teardown", "podman-rm"):
    if k in res:
        print(f"{k:<15} {res[k]:10.1f}")
met = lambda ok: "met" if ok else "NOT met"
d = res["default"] - res["none"]
p = res["default-port"] - res["none"]
up = lambda f: statistics.median(split[(f, "up")])
down = lambda f: statistics.median(split[(f, "down")])
print(f"default: setup {up('--net=default'):6.1f} ms (target <= 60: {met(up('--net=default') <= 60)}), "
      f"teardown {down('--net=default'):6.1f} ms; setup + teardown in a whole run: {d:6.1f} ms")
print(f"one port: setup {up('--net=default_-p_18084:80'):6.1f} ms (target <= 100: {met(up('--net=default_-p_18084:80') <= 100)}), "
      f"teardown {down('--net=default_-p_18084:80'):6.1f} ms; setup + teardown in a whole run: {p:6.1f} ms")
if "podman-bridge" in res:
    pd = res["podman-bridge"] - res["podman-none"]
    pp = res["podman-port"] - res["podman-none"]
    print(f"netavark adds     {pd:6.1f} ms, with one port {pp:6.1f} ms (setup + teardown)")
    print(f"netavark / rukt, setup + teardown: {pd / d:5.2f}x, with one port {pp / p:5.2f}x")
    print(f"podman-bridge / rukt default = {res['podman-bridge'] / res['default']:5.2f}x")
if "podman-rm" in res:
    print(f"gc teardown {res['gc-teardown']:.1f} ms vs podman rm -f {res['podman-rm']:.1f} ms: "
          f"{res['podman-rm'] / res['gc-teardown']:.2f}x (target: no slower: {met(res['gc-teardown'] <= res['podman-rm'])})")
print(f"TCP nspawn<->nspawn on default: {pod_tput} Gbit/s; kvm->nspawn: {kvm_tput} Gbit/s; veth floor: {floor_tput} Gbit/s")
PY
