#!/usr/bin/env bash
# Run cri-tools' critest (v1.36.0, from scripts/setup.sh) against rukt's CRI server and/or
# containerd 1.6 + runc from Debian, offline, and compare them spec by spec.
#
#   scripts/critest.sh [--runtime rukt|containerd|both] [--handler nspawn|kvm|fly]
#                      [--focus RE] [--skip RE] [--ci] [--parallel N] [--out DIR]
#                      [--rukt-bin PATH]
#
# Each runtime runs in namespaces this script creates: a network namespace standing in for
# the host (loopback, the runtime's CNI bridge on 10.88.0.0/16, the loopback registry of
# scripts/critest-images.sh, the stream servers), with private mount, IPC and PID
# namespaces around the runtime daemon *and* critest (critest's host-side checks - mount
# propagation, host IPC, host PID, host network, 127.0.0.1 host ports - must see what the
# runtime sees as "the host"). Nothing touches this machine's own interfaces or firewall;
# when the run ends the PID namespace ends and takes every shim, supervisor and container
# with it. Images come from the loopback registry through each runtime's mirrors for
# registry.k8s.io, gcr.io and k8s.gcr.io (containerd: registry.mirrors; rukt:
# registries.conf), under their original names.
#
# Skipped here, always (-ginkgo.skip; docs/cri-conformance.md says why): SELinux, AppArmor,
# NRI, Image Volume, and the spec pulling the digest-pinned image ("with digest").
# --ci focuses on a small conformance subset (runtime info, images, pod and container
# lifecycle, exec, idempotence) for the test suite: about a minute per runtime.
#
# Output (DIR, default bench/out/critest): <runtime>.json (ginkgo's JSON report),
# <runtime>.log (critest's output), <runtime>-daemon.log, and compare.md / compare.tsv: a
# table per runtime (passed / failed / skipped / total) and every spec's result side by
# side. Exit status: 0 if every runtime that ran passed every spec it ran, 1 if a spec
# failed, 2 on usage errors, 3 if rukt was asked for alone and `rukt cri` is not built.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=/opt/rukt-test/bin
always_skip='SELinux|AppArmor|NRI|Image Volume|with digest'
ci_focus='Runtime info|Image Manager|PodSandbox runtime should support basic operations|Container runtime should support basic operations on container runtime should support (creating|starting|stopping|removing|execSync)|Idempotence'

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# --inner RUNTIME WORK: the part that runs inside the namespaces (see below).
if [ "${1:-}" = --inner ]; then
    inner=1
    shift
else
    inner=
fi

runtime=both handler= focus= skip= ci= parallel=1 out= rukt_bin=
while [ $# -gt 0 ] && [ -z "$inner" ]; do
    case "$1" in
    --runtime) runtime=${2:?}; shift 2 ;;
    --handler) handler=${2:?}; shift 2 ;;
    --focus) focus=${2:?}; shift 2 ;;
    --skip) skip=${2:?}; shift 2 ;;
    --ci) ci=1; shift ;;
    --parallel) parallel=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --rukt-bin) rukt_bin=${2:?}; shift 2 ;;
    -h | --help) usage ;;
    *) echo "critest.sh: unknown argument $1" >&2; usage ;;
    esac
done

# The command line that serves CRI for rukt, as words on stdout: `rukt-cri` (beside the
# given binary, or target/debug) or `rukt cri`; nothing if neither is built.
rukt_cri_cmd() {
    local dir cand
    if [ -n "$rukt_bin" ]; then
        cand=$(realpath -m "$rukt_bin")
    else
        cand="$(realpath -m "${CARGO_TARGET_DIR:-$here/target}")/debug/rukt"
    fi
    dir=$(dirname "$cand")
    case "$(basename "$cand")" in
    rukt-cri) [ -x "$cand" ] && { echo "$cand"; return; } ;;
    esac
    if [ -x "$dir/rukt-cri" ]; then
        echo "$dir/rukt-cri"
    elif [ -x "$cand" ] && "$cand" cri --help >/dev/null 2>&1; then
        echo "$cand cri"
    fi
}

# ---------------------------------------------------------------- inside the namespaces
if [ -n "$inner" ]; then
    rt=${1:?} work=${2:?}
    # shellcheck source=/dev/null
    . "$work/params.sh"
    d="$work/$rt"
    # rukt's network is the list named `default` in its config dir (docs/networking.md).
    cni_name=critest
    [ "$rt" = rukt ] && cni_name=default
    # Private to this mount namespace: the pods' network namespace files and CNI's state.
    mkdir -p /run/netns "$d/cni-state"
    mount -t tmpfs -o mode=0755 critest-netns /run/netns
    mkdir -p /var/lib/cni
    mount --bind "$d/cni-state" /var/lib/cni
    ip link set lo up
    cat >"$d/registry.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $registry_storage
  maintenance:
    readonly:
      enabled: true
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:5000
YAML
    docker-registry serve "$d/registry.yml" >"$d/registry.log" 2>&1 &
    mkdir -p "$d/net.d"
    # The runtime's network: a bridge on 10.88.0.0/16 (only in this namespace), masquerade,
    # and portmap for host ports (critest maps 127.0.0.1:12000 and pod ports).
    cat >"$d/net.d/10-critest.conflist" <<JSON
{
  "cniVersion": "1.0.0",
  "name": "$cni_name",
  "plugins": [
    {"type": "bridge", "bridge": "critest0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$d/cni-ipam",
              "ranges": [[{"subnet": "10.88.0.0/16"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
JSON
    sock="$d/cri.sock"
    case "$rt" in
    containerd)
        mirrors=
        for h in registry.k8s.io gcr.io k8s.gcr.io docker.io; do
            mirrors+="[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"$h\"]
  endpoint = [\"http://127.0.0.1:5000\"]
"
        done
        cat >"$d/containerd.toml" <<TOML
version = 2
root = "$d/root"
state = "$d/state"
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$d/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  restrict_oom_score_adj = true
  tolerate_missing_hugetlb_controller = true
  disable_hugetlb_controller = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/net.d"
$mirrors
TOML
        containerd --config "$d/containerd.toml" >"$d/daemon.log" 2>&1 &
        ;;
    rukt)
        mkdir -p "$d/config"
        cp -r "$d/net.d" "$d/config/net.d"
        : >"$d/config/registries.conf"
        for h in registry.k8s.io gcr.io k8s.gcr.io docker.io; do
            printf '[[registry]]\nlocation = "%s"\n[[registry.mirror]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n\n' "$h" >>"$d/config/registries.conf"
        done
        # shellcheck disable=SC2086 # the command is words (`rukt cri`)
        $rukt_cmd --listen "unix://$sock" --dir "$d/store" --config-dir "$d/config" >"$d/daemon.log" 2>&1 &
        ;;
    esac
    daemon=$!
    for _ in $(seq 300); do
        [ -S "$sock" ] && break
        kill -0 "$daemon" 2>/dev/null || { echo "critest.sh: the $rt daemon exited; its log:" >&2; tail -20 "$d/daemon.log" >&2; exit 4; }
        sleep 0.1
    done
    [ -S "$sock" ] || { echo "critest.sh: no $sock after 30 s" >&2; exit 4; }
    printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n' "$sock" "$sock" >"$d/crictl.yaml"
    args=(-config "$d/crictl.yaml" --runtime-endpoint "unix://$sock" --image-endpoint "unix://$sock"
        "-ginkgo.skip=$skip_re" "-ginkgo.json-report=$out/$rt.json" -ginkgo.no-color -ginkgo.timeout=2h)
    # (-parallel=1 would be go test's own flag, which ginkgo refuses.)
    [ "$parallel" -gt 1 ] && args+=("--parallel=$parallel")
    [ -n "$focus_re" ] && args+=("-ginkgo.focus=$focus_re")
    [ "$rt" = rukt ] && [ -n "$handler" ] && args+=(--runtime-handler "$handler")
    status=0
    (cd "$d" && PATH="$bin_dir:$PATH" "$bin_dir/critest" "${args[@]}") >"$out/$rt.log" 2>&1 || status=$?
    kill "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
    exit "$status"
fi

# ---------------------------------------------------------------- outside
case "$runtime" in rukt | containerd) runtimes=("$runtime") ;; both) runtimes=(containerd rukt) ;; *) usage ;; esac
case "$handler" in "" | nspawn | kvm | fly) ;; *) echo "critest.sh: --handler is nspawn, kvm or fly" >&2; exit 2 ;; esac
[[ "$parallel" =~ ^[1-9][0-9]*$ ]] || { echo "critest.sh: --parallel takes a count" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "critest.sh: needs root (namespaces, mounts, the runtimes)" >&2; exit 1; }
for t in "$bin_dir/critest" "$bin_dir/ginkgo"; do
    [ -x "$t" ] || { echo "critest.sh: $t is missing; run scripts/setup.sh test" >&2; exit 1; }
done
for t in containerd runc docker-registry ip nsenter unshare python3; do
    command -v "$t" >/dev/null || { echo "critest.sh: $t is missing; run scripts/setup.sh test" >&2; exit 1; }
done
out=$(realpath -m "${out:-$here/bench/out/critest}")
mkdir -p "$out"
skip_re=$always_skip
[ -n "$skip" ] && skip_re="$skip_re|$skip"
focus_re=$focus
[ -n "$ci" ] && focus_re=${focus:+($focus)|}$ci_focus

rukt_cmd=$(rukt_cri_cmd)
run=()
for rt in "${runtimes[@]}"; do
    rm -f "$out/$rt.json" "$out/$rt.log"
    if [ "$rt" = rukt ] && [ -z "$rukt_cmd" ]; then
        msg="rukt cri is not available: no rukt-cri binary and no \`rukt cri\` subcommand in ${rukt_bin:-target/debug} (build it, or pass --rukt-bin)"
        echo "critest.sh: $msg" >&2
        echo "$msg" >"$out/rukt.log"
        [ "${#runtimes[@]}" = 1 ] && exit 3
        continue
    fi
    run+=("$rt")
done

registry_storage=$("$here/scripts/critest-images.sh" build)
work=$(mktemp -d /var/tmp/rukt-critest/run.XXXXXX)
netns=()
cleanup() {
    local n
    for n in "${netns[@]}"; do ip netns del "$n" 2>/dev/null || true; done
    # The mount namespaces are gone with their processes: nothing is mounted below $work
    # in this one, but check before removing anything.
    if awk -v d="$work/" 'index($5, d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        echo "critest.sh: mounts remain below $work; not removing it" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
cat >"$work/params.sh" <<SH
registry_storage=$(printf %q "$registry_storage")
out=$(printf %q "$out")
skip_re=$(printf %q "$skip_re")
focus_re=$(printf %q "$focus_re")
handler=$(printf %q "$handler")
parallel=$parallel
rukt_cmd=$(printf %q "$rukt_cmd")
bin_dir=$bin_dir
SH

# PID 1 of each run's PID namespace: starts the inner script, reaps every orphan (a
# runtime's zombie must not look alive), forwards SIGINT/SIGTERM, exits with its status.
reaper='
import os, signal, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, lambda n, f: os.kill(pid, n))
while True:
    p, st = os.wait()
    if p == pid:
        sys.exit(os.waitstatus_to_exitcode(st) & 0xff)
'
for rt in "${run[@]}"; do
    n="rukt-critest-$$-$rt"
    ip netns add "$n"
    netns+=("$n")
    mkdir -p "$work/$rt"
    echo "==> critest against $rt${focus_re:+ (focus: $focus_re)}" >&2
    start=$(date +%s)
    status=0
    nsenter "--net=/run/netns/$n" -- unshare --mount --ipc --pid --fork --mount-proc --propagation private -- \
        python3 -c "$reaper" "$0" --inner "$rt" "$work" || status=$?
    cp "$work/$rt/daemon.log" "$out/$rt-daemon.log" 2>/dev/null || true
    echo "    $rt: critest exited $status after $(($(date +%s) - start)) s (log: $out/$rt.log)" >&2
    [ "$status" = 4 ] && tail -5 "$out/$rt-daemon.log" >&2
done

python3 "$here/scripts/critest-report.py" --out "$out" "${runtimes[@]}"
