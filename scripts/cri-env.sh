#!/usr/bin/env bash
# Run a command against a CRI runtime started in namespaces of its own: the environment
# scripts/critest.sh and bench/cri.sh share.
#
#   scripts/cri-env.sh rukt|containerd [--handler H] [--rukt-bin PATH] [--log DIR] -- CMD...
#   scripts/cri-env.sh rukt --check [--rukt-bin PATH]   # prints how rukt serves CRI, or why not
#
# A network namespace stands in for the host: loopback, the runtime's CNI bridge `critest0`
# on 10.88.0.0/16 (only there), the loopback registry of scripts/critest-images.sh on
# 127.0.0.1:5000, the stream servers. Around the runtime daemon *and* CMD: private mount,
# IPC and PID namespaces, so CMD's "host" is the runtime's (critest checks host mounts,
# IPC, PIDs and ports) and the end of the run (the PID namespace's end) takes every shim,
# supervisor and container with it. Nothing touches this machine's own interfaces or
# firewall. Images come from that registry through the runtime's mirrors for registry.k8s.io,
# gcr.io, k8s.gcr.io and docker.io, under their original names:
#   containerd 1.6 + runc (Debian): private root, state and socket, cgroupfs, the Debian CNI
#     plugins, `registry.mirrors` in its config.
#   rukt: `rukt-cri` (or `rukt cri`) from target/debug or --rukt-bin, with a --dir store and
#     a --config-dir holding registries.conf (the same mirrors), policy.json (accept: the
#     stand-ins are unsigned) and net.d (the network, named `default`).
# CMD runs with CRI_ENDPOINT (unix://...), CRI_RUNTIME, CRI_DAEMON_PID, CRI_DIR (the run's
# directory, with crictl.yaml) and CRI_HANDLER set. The daemon's log is copied to
# DIR/<runtime>-daemon.log (--log). Exit status: CMD's; 3 if rukt cri is not built; 4 if
# the daemon did not come up.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)

# The command line that serves CRI for rukt, as words: `rukt-cri` (beside --rukt-bin, or in
# target/debug) or `rukt cri`; empty if neither is built.
rukt_cri_cmd() {
    local cand dir
    cand=$(realpath -m "${1:-${CARGO_TARGET_DIR:-$here/target}/debug/rukt}")
    dir=$(dirname "$cand")
    if [ "$(basename "$cand")" = rukt-cri ] && [ -x "$cand" ]; then
        echo "$cand"
    elif [ -x "$dir/rukt-cri" ]; then
        echo "$dir/rukt-cri"
    elif [ -x "$cand" ] && "$cand" cri --help >/dev/null 2>&1; then
        echo "$cand cri"
    fi
}

if [ "${1:-}" = --inner ]; then
    # ------------------------------------------------------- inside the namespaces
    shift
    rt=$1 d=$2 registry_storage=$3 rukt_cmd=$4
    shift 4
    # Private to this mount namespace: the pods' network namespace files and CNI's state.
    mkdir -p /run/netns /var/lib/cni "$d/cni-state"
    mount -t tmpfs -o mode=0755 cri-env-netns /run/netns
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
    # The pods' network: a bridge on 10.88.0.0/16, masquerade, portmap for host ports.
    # rukt takes the list named `default` in its config dir (docs/networking.md).
    cni_name=critest
    [ "$rt" = rukt ] && cni_name=default
    mkdir -p "$d/net.d"
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
    mirrors=(registry.k8s.io gcr.io k8s.gcr.io docker.io)
    sock="$d/cri.sock"
    case "$rt" in
    containerd)
        {
            cat <<TOML
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
TOML
            for h in "${mirrors[@]}"; do
                printf '[plugins."io.containerd.grpc.v1.cri".registry.mirrors."%s"]\n  endpoint = ["http://127.0.0.1:5000"]\n' "$h"
            done
        } >"$d/containerd.toml"
        containerd --config "$d/containerd.toml" >"$d/daemon.log" 2>&1 &
        ;;
    rukt)
        mkdir -p "$d/config"
        cp -r "$d/net.d" "$d/config/net.d"
        for h in "${mirrors[@]}"; do
            printf '[[registry]]\nlocation = "%s"\n[[registry.mirror]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n\n' "$h"
        done >"$d/config/registries.conf"
        # The stand-ins are unsigned (docs/trust.md: what rukt assumes without a policy, said).
        echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$d/config/policy.json"
        # shellcheck disable=SC2086 # the command is words (`rukt cri`)
        $rukt_cmd --listen "unix://$sock" --dir "$d/store" --config-dir "$d/config" >"$d/daemon.log" 2>&1 &
        ;;
    esac
    daemon=$!
    for _ in $(seq 300); do
        [ -S "$sock" ] && break
        if ! kill -0 "$daemon" 2>/dev/null; then
            echo "cri-env.sh: the $rt daemon exited; the end of its log:" >&2
            tail -20 "$d/daemon.log" >&2
            exit 4
        fi
        sleep 0.1
    done
    [ -S "$sock" ] || { echo "cri-env.sh: no $sock after 30 s" >&2; exit 4; }
    printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n' "$sock" "$sock" >"$d/crictl.yaml"
    status=0
    CRI_ENDPOINT="unix://$sock" CRI_RUNTIME=$rt CRI_DAEMON_PID=$daemon CRI_DIR=$d \
        CONTAINER_RUNTIME_ENDPOINT="unix://$sock" IMAGE_SERVICE_ENDPOINT="unix://$sock" \
        "$@" || status=$?
    kill "$daemon" 2>/dev/null || true
    wait "$daemon" 2>/dev/null || true
    exit "$status"
fi

# ----------------------------------------------------------- outside
rt=${1:-}
case "$rt" in rukt | containerd) shift ;; *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;; esac
handler= rukt_bin= log= check=
while [ $# -gt 0 ]; do
    case "$1" in
    --handler) handler=${2:?}; shift 2 ;;
    --rukt-bin) rukt_bin=${2:?}; shift 2 ;;
    --log) log=${2:?}; shift 2 ;;
    --check) check=1; shift ;;
    --) shift; break ;;
    *) echo "cri-env.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
rukt_cmd=
if [ "$rt" = rukt ]; then
    rukt_cmd=$(rukt_cri_cmd "$rukt_bin")
    if [ -z "$rukt_cmd" ]; then
        echo "rukt cri is not available: no rukt-cri binary and no 'rukt cri' subcommand in $(dirname "$(realpath -m "${rukt_bin:-${CARGO_TARGET_DIR:-$here/target}/debug/rukt}")") (cargo build the CRI server, or pass --rukt-bin)" >&2
        exit 3
    fi
fi
if [ -n "$check" ]; then
    echo "${rukt_cmd:-containerd}"
    exit 0
fi
[ $# -gt 0 ] || { echo "cri-env.sh: no command after --" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "cri-env.sh: needs root (namespaces, mounts, the runtimes)" >&2; exit 1; }
for t in containerd runc docker-registry ip nsenter unshare python3; do
    command -v "$t" >/dev/null || { echo "cri-env.sh: $t is missing; run scripts/setup.sh test" >&2; exit 1; }
done
registry_storage=$("$here/scripts/critest-images.sh" build)
mkdir -p /var/tmp/rukt-critest
work=$(mktemp -d "/var/tmp/rukt-critest/$rt.XXXXXX")
ns="rukt-cri-$$-$rt"
cleanup() {
    ip netns del "$ns" 2>/dev/null || true
    [ -z "$log" ] || cp "$work/daemon.log" "$log/$rt-daemon.log" 2>/dev/null || true
    # The mount namespace is gone with its processes, so nothing is mounted below $work
    # here; check before removing anything.
    if awk -v d="$work/" 'index($5, d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
        echo "cri-env.sh: mounts remain below $work; not removing it" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
ip netns add "$ns"
# PID 1 of the PID namespace: runs the inner part, reaps every orphan (a runtime's zombie
# must not look alive), forwards SIGINT/SIGTERM, exits with the inner part's status.
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
status=0
CRI_HANDLER=$handler nsenter "--net=/run/netns/$ns" -- \
    unshare --mount --ipc --pid --fork --mount-proc --propagation private -- \
    python3 -c "$reaper" "$0" --inner "$rt" "$work" "$registry_storage" "$rukt_cmd" "$@" || status=$?
exit "$status"
