#!/usr/bin/env bash
# A real kubelet in a fly pod, as Container Linux ran it with rkt
# (dist/kubelet-wrapper's volumes): standalone (a static pod, no API server),
# with containerd from Debian as its CRI runtime until `rukt cri` exists.
# Shows the kubelet starts, mounts the static pod's memory-backed emptyDir
# below its root directory, that the mount reaches the host through the
# shared, recursive volume (where containerd, on the host, binds it into the
# container, which writes a file there), and that it reports healthy on its
# healthz port. Everything lives below WORK (default target/kubelet-in-fly)
# and is torn down at the end, the propagated mounts included.
#
#   scripts/kubelet-in-fly.sh            # builds the kubelet first if needed
#                                        # (scripts/build-kubelet.sh: long, once)
#
# Not in the suite: building a kubelet takes about 25 minutes on two cores,
# more than the whole CI budget; it needs root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "${WORK:-$here/target/kubelet-in-fly}")
kubelet=${KUBELET:-$here/target/kubelet/kubelet}
[ "$(id -u)" = 0 ] || { echo "kubelet-in-fly.sh: needs root" >&2; exit 1; }
[ -x "$kubelet" ] || "$here/scripts/build-kubelet.sh" "$kubelet"
command -v containerd >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends containerd >/dev/null
(cd "$here" && cargo build -q -p rukt -p rukt-stage1-fly)
rukt="${CARGO_TARGET_DIR:-$here/target}/debug/rukt"
store=$work/store
ctd=$work/containerd
root=$work/var-lib-kubelet
ctr=(ctr --address "$ctd/run/containerd.sock" -n k8s.io)

teardown() {
    set +e
    [ -f "$work/kubelet.uuid" ] && "$rukt" --dir "$store" stop --force "$(cat "$work/kubelet.uuid")" >/dev/null 2>&1
    if [ -S "$ctd/run/containerd.sock" ]; then
        for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks kill -s KILL "$t" >/dev/null 2>&1; done
        sleep 1
        for t in $("${ctr[@]}" tasks ls -q 2>/dev/null); do "${ctr[@]}" tasks rm -f "$t" >/dev/null 2>&1; done
    fi
    [ -f "$work/containerd.pid" ] && kill "$(cat "$work/containerd.pid")" 2>/dev/null
    sleep 1
    # The kubelet's mounts outlive its pod by design (as with rkt): remove them here.
    grep -o " $work[^ ]*" /proc/self/mountinfo | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
    "$rukt" --dir "$store" gc --grace-period=0s >/dev/null 2>&1
}
trap teardown EXIT
teardown
rm -rf "$work"
mkdir -p "$work" "$ctd/run" "$ctd/root" "$root" "$work/manifests" "$work/config" "$work/pod-logs" "$work/log"

echo "==> images: the kubelet's (busybox, the kubelet and its libc) and a sleeper for the static pod" >&2
"$here/scripts/busybox-rootfs.sh" "$work/rootfs"
cp -a "$work/rootfs" "$work/kubelet-rootfs"
install -D -m 0755 "$kubelet" "$work/kubelet-rootfs/usr/bin/kubelet"
# The kubelet mounts through mount(8) (k8s.io/mount-utils): busybox's.
for applet in mount umount; do ln -sf busybox "$work/kubelet-rootfs/bin/$applet"; done
# Host-network pods get a copy of the node's hosts file, read from the kubelet's root.
mkdir -p "$work/kubelet-rootfs/etc" && printf '127.0.0.1 localhost\n' >"$work/kubelet-rootfs/etc/hosts"
for lib in $(ldd "$kubelet" | grep -o '/[^ ]*'); do install -D "$lib" "$work/kubelet-rootfs$lib"; done
python3 "$here/scripts/mkimage.py" "$work/kubelet-layout" kubelet "$work/kubelet-rootfs:." >/dev/null
python3 "$here/scripts/mkimage.py" "$work/sleeper" rukt --cmd '["/bin/sleep","3600"]' "$work/rootfs:." >/dev/null

echo "==> containerd (Debian's, as the CRI runtime), its sandbox image imported" >&2
cat >"$ctd/config.toml" <<TOML
version = 2
root = "$ctd/root"
state = "$ctd/state"
[grpc]
  address = "$ctd/run/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "localhost/sleeper:rukt"
  # These machines lack CAP_SYS_RESOURCE, which lowering oom_score_adj below
  # containerd's own needs (the kubelet asks -998 for sandboxes).
  restrict_oom_score_adj = true
TOML
containerd --config "$ctd/config.toml" >"$ctd/log" 2>&1 &
echo $! >"$work/containerd.pid"
for _ in $(seq 100); do [ -S "$ctd/run/containerd.sock" ] && break; sleep 0.1; done
tar -C "$work/sleeper" -cf "$work/sleeper.tar" .
"${ctr[@]}" images import --base-name localhost/sleeper "$work/sleeper.tar" >/dev/null
"${ctr[@]}" images ls -q | grep -qx localhost/sleeper:rukt

cat >"$work/manifests/cache.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: {name: cache, namespace: default}
spec:
  hostNetwork: true
  containers:
  - name: app
    image: localhost/sleeper:rukt
    imagePullPolicy: Never
    command: ["/bin/sh", "-c", "echo written-by-the-container > /cache/f; exec sleep 3600"]
    volumeMounts: [{name: cache, mountPath: /cache}]
  volumes: [{name: cache, emptyDir: {medium: Memory}}]
YAML
cat >"$work/config/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host has cgroup v1 (hybrid): kubelet 1.36 refuses it unless told.
failCgroupV1: false
failSwapOn: false
cgroupDriver: cgroupfs
staticPodPath: /etc/kubernetes/manifests
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
podLogsDir: $work/pod-logs
# The kubelet's image has no resolv.conf to hand its pods; none is needed here.
resolvConf: ""
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
YAML

echo "==> the kubelet in a fly pod: $root shared and recursive at the same path inside" >&2
"$rukt" --dir "$store" run --stage1=fly --uuid-file-save="$work/kubelet.uuid" \
    --volume "kubelet,kind=host,source=$root,recursive=true,propagation=shared" \
    --volume "manifests,kind=host,source=$work/manifests,readOnly=true" \
    --volume "config,kind=host,source=$work/config,readOnly=true" \
    --volume "run,kind=host,source=$ctd/run" \
    --volume "logs,kind=host,source=$work/pod-logs" \
    --volume "varlog,kind=host,source=$work/log" \
    --volume "ctdroot,kind=host,source=$ctd/root,readOnly=true" \
    "oci:$work/kubelet-layout:kubelet" \
    --mount "volume=kubelet,target=$root" --mount volume=manifests,target=/etc/kubernetes/manifests \
    --mount volume=config,target=/etc/kubernetes/kubelet --mount volume=run,target=/run/containerd \
    --mount "volume=logs,target=$work/pod-logs" --mount volume=varlog,target=/var/log \
    --mount "volume=ctdroot,target=$ctd/root" \
    --exec /usr/bin/kubelet -- --config=/etc/kubernetes/kubelet/config.yaml --root-dir="$root" \
    --cert-dir="$root/pki" >"$work/kubelet.log" 2>&1 &
disown

healthy= mounted= written=
for _ in $(seq 240); do
    [ -n "$healthy" ] || healthy=$(curl -fsS http://127.0.0.1:10248/healthz 2>/dev/null || true)
    [ -n "$mounted" ] || mounted=$(grep -o " $root/pods/[^ ]*/volumes/kubernetes.io~empty-dir/cache " /proc/self/mountinfo | head -1 || true)
    if [ -n "$mounted" ]; then
        written=$(cat "${mounted// /}/f" 2>/dev/null || true)
    fi
    [ -n "$healthy" ] && [ -n "$written" ] && break
    sleep 0.5
done
echo
echo "kubelet: $("$kubelet" --version)"
echo "healthz on 127.0.0.1:10248: ${healthy:-no answer}"
echo "the static pod's emptyDir on the host: ${mounted:-not mounted} $(grep " ${mounted// /} " /proc/self/mountinfo | awk '{print $9}' 2>/dev/null)"
echo "the container's file in it, read on the host: ${written:-none}"
if [ -n "$healthy" ] && [ -n "$written" ]; then
    echo "OK"
else
    echo "FAILED; the kubelet said:" >&2
    grep -E '^E' "$work/kubelet.log" | tail -20 >&2
    exit 1
fi
