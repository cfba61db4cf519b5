#!/usr/bin/env bash
# Benchmark: start-to-exit of `/bin/true` in an isolated pod (stage1 nspawn, the
# default), from a busybox image already in the store, against the peers and
# the floor. Side by side, in one hyperfine run per round (BENCH_ROUNDS rounds of
# BENCH_RUNS/BENCH_ROUNDS runs, the order reversed every other round):
#   rukt           rukt run --net=none IMG --exec /bin/true (nspawn: net/uts/ipc/pid/mount/cgroup
#                  namespaces, pod and app cgroups, seccomp, masked paths, supervisor;
#                  loopback only, as runc's bundle: bench/net.sh measures the networks)
#   rukt-gc        `rukt gc --grace-period=0s` of the one exited pod such a run leaves
#                  (run + gc is a pod's whole life)
#   bare           the floor: stage1-nspawn/examples/bare.rs, youki's libcontainer alone,
#                  one container per process: create + start + waitpid + delete
#   runc           runc run
#   crun           crun run, inside `unshare -m` with /sys/fs/cgroup/unified unmounted
#                  (crun 1.8.1 refuses this hybrid host otherwise); crun is unpacked
#                  from Debian's package into the work dir, not installed: an installed
#                  crun would become podman's default runtime, which fails here
#   crun-wrapper   that wrapper alone (unshare + sh + umount), to subtract from crun
#   runc-defaults  runc run of the same rootfs with the peers' own usual security: the
#                  runc-spec configuration umoci writes (its capabilities, masked and
#                  read-only paths, namespaces) and the containers default seccomp
#                  profile (podman's /usr/share/containers/seccomp.json, in OCI form:
#                  bench/containers-seccomp.py), no network
#   crun-defaults  crun run of that bundle (in the wrapper above)
#   rukt-base,     with BENCH_BASELINE=DIR (an older build's rukt and rukt-stage1-nspawn):
#   rukt-base-gc   the same two rows for it, in a store of its own, in the same rounds
# and, in a hyperfine run of its own with fewer runs (it is slow):
#   podman         podman run --rm --network none --runtime runc (and the low ulimits
#                  machine.md says this host needs) of the same image, from
#                  containers-storage: podman's own defaults (its seccomp profile, masks,
#                  capabilities); runc because podman's default here, crun, refuses
#                  this hybrid host
# Default networks, in a network namespace standing in for the host (as bench/net.sh):
#   rukt-net       rukt run IMG --exec /bin/true (--net=default, the CNI bridge)
#   podman-net     podman run --rm --runtime runc --network bridge (netavark, storage
#                  of its own)
# Where rukt's time goes (bench/nspawn-breakdown.py): BENCH_BREAKDOWN runs of `rukt
# --debug run --net=none`, split at the supervisor's phase events and libcontainer's
# timestamped lines (medians); and the system calls of one pod by process (strace -f -c).
#
# bare, runc and crun run one bundle whose config.json is the one rukt's stage1 wrote
# for the same app (same namespaces, capabilities, seccomp filter, masked and
# read-only paths, mounts, /etc files), with fresh namespaces instead of the pod's,
# a cgroupsPath of its own and a plain directory as root (no overlay). As in
# bench/run.sh, every rukt command gets a hyperfine --prepare of
# `rukt gc --grace-period=0s`, so pods do not pile up; prepare time is not counted.
#
# Memory: BENCH_PODS pods run `/bin/sleep 300` at once; each supervisor's VmRSS
# (/proc/PID/status) and Pss and private memory (/proc/PID/smaps_rollup) are read;
# the supervisor is the PID `rukt status` prints. Then they are stopped and collected.
#
# Prints median wall times, mean CPU times (user + system of the command and its
# children), the host's mount count and load, ratios and the targets of the
# nspawn issues:
#   rukt <= 1.5x bare;  rukt faster than runc and crun in every row (same config; each
#   peer with its own defaults; default networks);  podman >= 5x rukt;
#   rukt <= 12 ms and run + gc <= 20 ms (moonshot);  supervisor RSS < 2 MiB.
# The pods' run directories, and the peers' state (their --root), are on a tmpfs, as
# on a host whose init mounts /run as one (BENCH_RUN_TMPFS=0: as /run is here).
# Not a test: it never fails on a time.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
# Absolute: mounts are found by path in /proc/self/mountinfo.
work=$(realpath -m "${BENCH_DIR:-$here/bench/out/nspawn}")
runs=${BENCH_RUNS:-100}
podman_runs=${BENCH_PODMAN_RUNS:-20}
rounds=${BENCH_ROUNDS:-5}
npods=${BENCH_PODS:-10}
breakdown_runs=${BENCH_BREAKDOWN:-20}
baseline=${BENCH_BASELINE:+$(realpath "$BENCH_BASELINE")}
[ "$(id -u)" = 0 ] || { echo "nspawn.sh: needs root (namespaces, cgroups, mounts)" >&2; exit 1; }
# /run is a tmpfs wherever systemd, sysvinit or OpenRC boots the host; where it is a
# directory of the root filesystem instead (this VM), stand in for such a host (above).
if [ "${BENCH_RUN_TMPFS:-1}" = 1 ] && [ -z "${BENCH_IN_RUN_NS:-}" ] &&
    [ "$(stat -f -c %T /run)" != tmpfs ]; then
    echo "==> /run is not a tmpfs here: a tmpfs at /run/rukt/pods, in a mount namespace of its own" >&2
    mkdir -p /run/rukt/pods
    # shellcheck disable=SC2016 # expanded by the inner shell
    exec env BENCH_IN_RUN_NS=1 unshare -m --propagation private \
        sh -c 'mount -t tmpfs -o mode=0700 rukt-pods /run/rukt/pods && exec bash "$0" "$@"' "$0" "$@"
fi
echo "==> /run/rukt/pods is on $(stat -f -c %T /run/rukt/pods 2>/dev/null || stat -f -c %T /run)" >&2
# shellcheck source=bench/lib.sh
. "$here/bench/lib.sh"
"$here/scripts/setup.sh" bench >/dev/null
ensure_runc
build_release nspawn fly
(cd "$here" && cargo build --release -q --example bare -p rukt-stage1-nspawn)
rukt="$bin/rukt"
bare="$bin/examples/bare"
store="$work/store"
state="$work/state"
mem="$work/mem"
mkdir -p "$work"
podman_img=localhost/rukt-bench-nspawn:latest
cgroup_parent="rukt-bench"

# stage1-nspawn leaves each pod's empty /rukt/<uuid> behind in the v1
# hierarchies it does not know (blkio, cpuset here; libcontainer made them for
# the app's cgroup). The pods this benchmark ran are listed in $uuids before
# each gc, and their leftovers removed at the end.
uuids="$work/uuids"
# gc.sh RUKT STORE [NSENTER...]: collects STORE's exited pods with RUKT.
gc_sh="$work/gc.sh"
cat >"$gc_sh" <<SH
#!/bin/sh
rukt=\$1 store=\$2
shift 2
ls "\$store/pods/run" >>"$uuids" 2>/dev/null
exec "\$@" "\$rukt" --dir "\$store" gc --grace-period=0s >/dev/null
SH
chmod +x "$gc_sh"
gc_script="$gc_sh $bin/rukt $store"
store_base="$work/store-base"
gc_base="$gc_sh $baseline/rukt $store_base"
netns=rukt-bench-nspawn
nsx=(nsenter "--net=/run/netns/$netns" --)
store_net="$work/store-net"
gc_net="$gc_sh $bin/rukt $store_net ${nsx[*]}"
podman_net=(podman --root "$work/podman/root" --runroot "$work/podman/run" --storage-driver overlay
    --network-backend netavark)
cleanup() {
    local f
    for f in "$mem"/*.uuid; do
        if [ -s "$f" ]; then
            "$rukt" --dir "$store" stop --force --uuid-file "$f" >/dev/null 2>&1 || true
        fi
    done
    wait 2>/dev/null || true
    if [ -d "$store" ]; then $gc_script || true; fi
    if [ -d "$store_base" ]; then $gc_base || true; fi
    if [ -d "$store_net" ] && [ -e "/run/netns/$netns" ]; then $gc_net || true; fi
    if [ -e "/run/netns/$netns" ]; then
        "${nsx[@]}" "${podman_net[@]}" rmi -f "$podman_img" >/dev/null 2>&1 || true
        ip netns del "$netns" 2>/dev/null || true
    fi
    unmount_below "$work"
    if [ -f "$uuids" ]; then
        sort -u "$uuids" | while read -r u; do
            rmdir /sys/fs/cgroup/*/rukt/"$u" 2>/dev/null || true
        done
        rm -f "$uuids"
    fi
    # The bundle's cgroup parent, left empty by runc, crun and libcontainer.
    rmdir /sys/fs/cgroup/*/"$cgroup_parent" /sys/fs/cgroup/unified/"$cgroup_parent" 2>/dev/null || true
    podman rmi -f "$podman_img" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
no_mounts_below "$work"
rm -rf "$store" "$store_base" "$store_net" "$work/rootfs" "$work/layout" "$work/bundle" \
    "$work/bundle-defaults" "$work/pod-etc" "$state" "$mem" "$work/crun" "$work/podman"
mkdir -p "$state" "$mem"
# Standing in for a host whose /run is a tmpfs: the peers keep their state there too
# (runc's default root is /run/runc, crun's /run/crun).
[ -z "${BENCH_IN_RUN_NS:-}" ] || mount -t tmpfs -o mode=0700 bench-state "$state"

make_busybox_image "$work" "$store"
if [ -n "$baseline" ]; then "$baseline/rukt" --dir "$store_base" fetch -q "$img" >/dev/null; fi
"$rukt" --dir "$store_net" fetch -q "$img" >/dev/null

# crun from Debian's package, unpacked here with its one missing library.
echo "==> unpacking crun" >&2
mkdir -p "$work/crun/debs"
(cd "$work/crun/debs" && apt-get download -q crun libyajl2 >/dev/null 2>&1)
for deb in "$work"/crun/debs/*.deb; do dpkg -x "$deb" "$work/crun/root"; done
crun="$work/crun/root/usr/bin/crun"
crun_libs="$work/crun/root/usr/lib/x86_64-linux-gnu"

# The bundle: the image's rootfs (umoci unpack) and the config.json rukt's stage1
# wrote for the same app, taken from a pod that ran /bin/true.
umoci_bundle "$work" "$work/bundle"
"$rukt" --dir "$store" run --net=none --uuid-file-save "$work/sanity.uuid" "$img" --exec /bin/true
uuid=$(cat "$work/sanity.uuid")
# The supervisor keeps the bundles in the pod's run directory (docs/stage1-nspawn.md).
config=$(find "/run/rukt/pods/$uuid/bundles" -path "*/config.json" | head -1)
[ -f "$config" ] || { echo "nspawn.sh: no config.json in pod $uuid" >&2; exit 1; }
mkdir -p "$work/pod-etc"
python3 - "$config" "$work/bundle" "$work/pod-etc" "$cgroup_parent" <<'PY'
import json, os, shutil, sys
src, bundle, etc, parent = sys.argv[1:]
run_dir = src.split("/bundles/")[0]
c = json.load(open(src))
# rukt loads the app's seccomp filter itself (compiled once, cached); the
# peers get the same filter the OCI way.
c["linux"]["seccomp"] = json.load(open(os.path.join(os.path.dirname(src), "seccomp.json")))
c["root"]["path"] = "rootfs"
c["process"]["terminal"] = False
c["process"]["args"] = ["/bin/true"]
c["hostname"] = "rukt-bench"
# The pod's shared namespaces (joined by path) become fresh ones of the container.
c["linux"]["namespaces"] = [{"type": n["type"]} for n in c["linux"]["namespaces"]]
c["linux"]["cgroupsPath"] = f"/{parent}/ctr"
# rukt's /sys/fs/cgroup on v1 is a tree its supervisor binds and takes down once
# the app is made (docs/architecture.md), of the app's own cgroups: the peers get
# the same view their own way, the cgroup mount in their cgroup namespace.
mounts = [m for m in c["mounts"] if not m["destination"].startswith("/sys/fs/cgroup")]
mounts.insert(next(i for i, m in enumerate(mounts) if m["destination"] == "/sys") + 1,
              {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]})
c["mounts"] = mounts
# The pod's /etc files, copied out of its run directory (which gc removes).
for m in c["mounts"]:
    if m.get("source", "").startswith(run_dir + "/"):
        dst = os.path.join(etc, os.path.basename(m["source"]))
        shutil.copy(m["source"], dst)
        m["source"] = dst
json.dump(c, open(os.path.join(bundle, "config.json"), "w"), indent=1)
PY

# The peers' own defaults: umoci's runc-spec configuration and the containers default
# seccomp profile for its capabilities.
umoci_bundle "$work" "$work/bundle-defaults"
python3 - "$work/bundle-defaults/config.json" "$cgroup_parent" <<'PY'
import json, sys
path, parent = sys.argv[1:]
c = json.load(open(path))
c["hostname"] = "rukt-bench"
c["linux"]["cgroupsPath"] = f"/{parent}/ctr-defaults"
json.dump(c, open(path, "w"), indent=1)
PY
python3 "$here/bench/containers-seccomp.py" /usr/share/containers/seccomp.json "$work/bundle-defaults/config.json"

podman_flags=(--rm --network none --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
crun_wrap="umount /sys/fs/cgroup/unified && LD_LIBRARY_PATH=$crun_libs exec"
echo "==> checking every contender runs /bin/true" >&2
"$bare" "$work/bundle" "$state/bare" bench-sanity
runc --root "$state/runc" run --bundle "$work/bundle" bench-sanity </dev/null
runc --root "$state/runc" run --bundle "$work/bundle-defaults" bench-sanity </dev/null
have_crun=1
if ! unshare -m sh -c "$crun_wrap $crun --root $state/crun run --bundle $work/bundle bench-sanity" </dev/null ||
    ! unshare -m sh -c "$crun_wrap $crun --root $state/crun run --bundle $work/bundle-defaults bench-sanity" </dev/null; then
    echo "nspawn.sh: crun does not run here even without the unified hierarchy; leaving it out" >&2
    have_crun=0
fi
have_podman=1
if ! skopeo copy -q "$img" "containers-storage:$podman_img" >/dev/null ||
    ! podman run "${podman_flags[@]}" "$podman_img" /bin/true </dev/null; then
    echo "nspawn.sh: podman run does not work here; leaving it out" >&2
    have_podman=0
fi
ip netns add "$netns"
"${nsx[@]}" ip link set lo up
"${nsx[@]}" "$rukt" --dir "$store_net" run "$img" --exec /bin/true </dev/null
have_podman_net=1
if ! skopeo copy -q "$img" "containers-storage:[overlay@$work/podman/root+$work/podman/run]$podman_img" >/dev/null ||
    ! "${nsx[@]}" "${podman_net[@]}" run "${podman_flags[@]/none/bridge}" "$podman_img" /bin/true </dev/null; then
    echo "nspawn.sh: podman run --network bridge does not work here; leaving its row out" >&2
    have_podman_net=0
fi
$gc_script
$gc_net

# -N: no shell around the timed commands (several take only a few ms, below what
# hyperfine can correct for a shell's start-up); --prepare commands use sh -c.
# One contender a line: name, prepare command, timed command.
run_rukt="$rukt --dir $store run --net=none $img --exec /bin/true"
contenders=(
    rukt "$gc_script" "$run_rukt"
    rukt-gc "sh -c '$gc_script && $run_rukt && ls $store/pods/run >>$uuids'" "$rukt --dir $store gc --grace-period=0s"
    bare true "$bare $work/bundle $state/bare bench"
    runc true "runc --root $state/runc run --bundle $work/bundle bench"
    runc-defaults true "runc --root $state/runc run --bundle $work/bundle-defaults bench"
)
if [ "$have_crun" = 1 ]; then
    contenders+=(
        crun true "unshare -m sh -c '$crun_wrap $crun --root $state/crun run --bundle $work/bundle bench'"
        crun-defaults true "unshare -m sh -c '$crun_wrap $crun --root $state/crun run --bundle $work/bundle-defaults bench'"
        crun-wrapper true "unshare -m sh -c '$crun_wrap true'"
    )
fi
if [ -n "$baseline" ]; then
    run_base="$baseline/rukt --dir $store_base run --net=none $img --exec /bin/true"
    contenders+=(
        rukt-base "$gc_base" "$run_base"
        rukt-base-gc "sh -c '$gc_base && $run_base && ls $store_base/pods/run >>$uuids'" "$baseline/rukt --dir $store_base gc --grace-period=0s"
    )
fi
# The machine is shared and its load drifts: the runs are split into rounds,
# every other round in reverse order, and the medians are taken over all rounds.
echo "==> timing: $rounds rounds" >&2
rm -f "$work"/*.json
n=$((${#contenders[@]} / 3))
per=$((runs / rounds > 2 ? runs / rounds : 2))
podman_per=$((podman_runs / rounds > 2 ? podman_runs / rounds : 2))
for r in $(seq "$rounds"); do
    args=()
    for j in $(seq 0 $((n - 1))); do
        i=$j
        if [ $((r % 2)) = 0 ]; then i=$((n - 1 - j)); fi
        args+=(-n "${contenders[3 * i]}" --prepare "${contenders[3 * i + 1]}" "${contenders[3 * i + 2]}")
    done
    hyperfine -N --style basic --runs "$per" --warmup 2 \
        --export-json "$work/round-$r.json" "${args[@]}" >&2
    if [ "$have_podman" = 1 ]; then
        hyperfine -N --style basic --runs "$podman_per" --warmup 1 \
            --export-json "$work/round-$r-podman.json" \
            -n podman "podman run ${podman_flags[*]} $podman_img /bin/true" >&2
    fi
    hyperfine -N --style basic --runs "$podman_per" --warmup 1 \
        --export-json "$work/round-$r-net.json" \
        -n rukt-net --prepare "$gc_net" "${nsx[*]} $rukt --dir $store_net run $img --exec /bin/true" \
        -n nsenter-wrapper "${nsx[*]} true" >&2
    if [ "$have_podman_net" = 1 ]; then
        hyperfine -N --style basic --runs "$podman_per" --warmup 1 \
            --export-json "$work/round-$r-podman-net.json" \
            -n podman-net "${nsx[*]} ${podman_net[*]} run ${podman_flags[*]/none/bridge} $podman_img /bin/true" >&2
    fi
done
$gc_net

echo "==> breakdown of one pod: $breakdown_runs runs with --debug (medians)" >&2
breakdown="$work/breakdown.txt"
{
    echo "rukt (this build):"
    python3 "$here/bench/nspawn-breakdown.py" "$breakdown_runs" "$gc_script" -- \
        "$rukt" --dir "$store" --debug run --net=none "$img" --exec /bin/true
    if [ -n "$baseline" ]; then
        echo "rukt-base ($baseline; phases it does not log are folded into the next one):"
        python3 "$here/bench/nspawn-breakdown.py" "$breakdown_runs" "$gc_base" -- \
            "$baseline/rukt" --dir "$store_base" --debug run --net=none "$img" --exec /bin/true
    fi
    $gc_script
    echo "system calls of one pod, by process (strace -f):"
    strace -f -qq -o "$work/strace.txt" "$rukt" --dir "$store" run --net=none "$img" --exec /bin/true
    # In the order they started, each named by what it does: the cgroup warm-up helper
    # (stage1-nspawn/src/warm.rs) rewrites its own cgroup.procs every 2 ms until the
    # app joined; the cgroup tree's unmount (stage1-nspawn/src/cgview.rs) is one call.
    awk '!($1 in n) { order[++k] = $1 } { n[$1]++ }
        !($1 in name) && /cgroup\.procs", O_WRONLY/ && n[$1] < 5 { name[$1] = "cgroup warm-up helper" }
        !($1 in name) && /youki:\[1:INTER\]/ { name[$1] = "libcontainer intermediate" }
        !($1 in name) && /youki:\[2:INIT\]/ { name[$1] = "app init, then the app" }
        !($1 in name) && /umount2\(.*stage1\/cgroup\// { name[$1] = "cgroup tree unmount" }
        END { for (i = 1; i <= k; i++) {
                  p = order[i]
                  printf "  %-28s %5d\n", (i == 1 ? "stage0, then the supervisor" : (p in name ? name[p] : "pid " p)), n[p] } }' \
        "$work/strace.txt"
    $gc_script
} >"$breakdown"

echo "==> memory: $npods pods running /bin/sleep" >&2
for i in $(seq "$npods"); do
    "$rukt" --dir "$store" run --net=none --uuid-file-save "$mem/$i.uuid" "$img" --exec /bin/sleep -- 300 \
        </dev/null >/dev/null 2>"$mem/$i.err" &
done
for i in $(seq "$npods"); do
    pid=
    for _ in $(seq 300); do
        if [ -s "$mem/$i.uuid" ]; then
            st=$("$rukt" --dir "$store" status --uuid-file "$mem/$i.uuid" 2>/dev/null || true)
            pid=$(sed -n 's/^pid=//p' <<<"$st")
            [ -n "$pid" ] && grep -qx 'state=running' <<<"$st" && break
            pid=
        fi
        sleep 0.1
    done
    [ -n "$pid" ] || { echo "nspawn.sh: pod $i did not start: $(cat "$mem/$i.err")" >&2; exit 1; }
    # Sampled once all are up (below): a supervisor still starting its app is bigger.
    echo "$pid" >"$mem/$i.pid"
done
sleep 1
for i in $(seq "$npods"); do
    pid=$(cat "$mem/$i.pid")
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
    awk -v rss="$rss" '/^Pss:/ { pss = $2 } /^Private_(Clean|Dirty):/ { priv += $2 }
        END { print rss, pss, priv }' "/proc/$pid/smaps_rollup"
done >"$mem/kb.txt"
# --force: a busybox sleep as its pid namespace's init ignores SIGTERM.
for f in "$mem"/*.uuid; do "$rukt" --dir "$store" stop --force --uuid-file "$f" >/dev/null; done
wait || true
rm -f "$mem"/*.uuid

# Context for the numbers: libcontainer and runc parse /proc/self/mountinfo
# many times per container (so their times grow with the host's mounts), and
# the 2 vCPUs are shared.
echo "host: $(wc -l </proc/self/mountinfo) mounts, load average $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$breakdown"
python3 - "$mem/kb.txt" "$work"/round-*.json <<'PY'
import collections, json, statistics, sys
times, cpus = collections.defaultdict(list), collections.defaultdict(list)
for f in sys.argv[2:]:
    for r in json.load(open(f))["results"]:
        times[r["command"]] += r["times"]
        cpus[r["command"]].append(r["user"] + r["system"])
order = ["rukt", "rukt-gc", "rukt-base", "rukt-base-gc", "bare", "runc", "crun", "crun-wrapper",
         "runc-defaults", "crun-defaults", "podman", "rukt-net", "podman-net", "nsenter-wrapper"]
res = {k: statistics.median(times[k]) for k in order if k in times}
# How noisy: the spread of each row over its runs (interquartile range / median).
iqr = {}
for k in res:
    q = statistics.quantiles(times[k], n=4)
    iqr[k] = (q[2] - q[0]) / res[k]
# CPU time (user + system, children included; mean): less sensitive to a busy
# machine than wall time. podman's conmon and runtime are not its children.
cpu = {k: statistics.mean(v) for k, v in cpus.items()}
rukt, bare = res["rukt"], res["bare"]
# Wrappers are subtracted: crun's (unshare + umount), the network rows' nsenter.
net_of = {"crun": "crun-wrapper", "crun-defaults": "crun-wrapper",
          "rukt-net": "nsenter-wrapper", "podman-net": "nsenter-wrapper"}
for k, w in net_of.items():
    if k in res and w in res:
        res[k] -= res[w]
        cpu[k] -= cpu[w]
for w in set(net_of.values()):
    res.pop(w, None)
rows_of = {"rukt": "same config, no network", "bare": "same config", "runc": "same config",
           "crun": "same config (net of wrapper)", "runc-defaults": "own defaults, no network",
           "crun-defaults": "own defaults (net of wrapper)", "podman": "own defaults, --network none",
           "rukt-gc": "gc of one exited pod", "rukt-base": "baseline build, no network",
           "rukt-base-gc": "baseline gc", "rukt-net": "--net=default (CNI bridge; net of nsenter)",
           "podman-net": "--network bridge (netavark; net of nsenter)"}
print(f"{'command':<14} {'median ms':>10} {'x / rukt':>9} {'x / bare':>9} {'cpu ms':>7} {'iqr':>6}  row")
for k, v in res.items():
    print(f"{k:<14} {v * 1000:10.2f} {v / rukt:9.2f} {v / bare:9.2f} {cpu[k] * 1000:7.2f} "
          f"{iqr.get(k, 0) * 100:5.0f}%  {rows_of.get(k, '')}")
life = rukt + res["rukt-gc"]
print(f"pod life (run + gc)    {life * 1000:10.2f}")
if "rukt-base" in res:
    base_life = res["rukt-base"] + res["rukt-base-gc"]
    print(f"baseline pod life      {base_life * 1000:10.2f}  (this build: run {(res['rukt-base'] - rukt) * 1000:+.2f} ms faster, "
          f"life {(base_life - life) * 1000:+.2f} ms faster)")
met = lambda ok: "met" if ok else "NOT met"
print(f"rukt / bare   = {rukt / bare:5.2f}x  (target <= 1.5x: {met(rukt / bare <= 1.5)})")
for peer in ["runc", "crun", "runc-defaults", "crun-defaults"]:
    if peer in res:
        print(f"{peer + ' / rukt':<22} = {res[peer] / rukt:5.2f}x  (target > 1x: {met(res[peer] > rukt)})")
if "rukt-net" in res and "podman-net" in res:
    print(f"podman-net / rukt-net  = {res['podman-net'] / res['rukt-net']:5.2f}x  (target > 1x: {met(res['podman-net'] > res['rukt-net'])})")
print(f"moonshot: rukt {rukt * 1000:.2f} ms (<= 12 ms: {met(rukt <= 0.012)}), "
      f"run + gc {life * 1000:.2f} ms (<= 20 ms: {met(life <= 0.020)})")
if "podman" in res:
    print(f"podman / rukt = {res['podman'] / rukt:5.2f}x  (target >= 5x: {met(res['podman'] / rukt >= 5)})")
else:
    print("podman / rukt = n/a (podman run does not work here)")
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
rss, pss, priv = (statistics.median(c) / 1024 for c in zip(*rows))
print(f"supervisor, median of {len(rows)} running pods: RSS {rss:.2f} MiB, PSS {pss:.2f} MiB, "
      f"private {priv:.2f} MiB  (target RSS < 2 MiB: {met(rss < 2)})")
PY
