#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine (as root), install
# what rukt needs, build it, make a local demo image from busybox-static,
# serve it from a local registry, fetch it with rukt and run pods from it: a
# two-app pod under nspawn (the default engine) and one under fly.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh" test
(cd "$here" && cargo build --release -q -p rukt -p rukt-stage1-nspawn -p rukt-stage1-fly)
rukt="$here/target/release/rukt"
work=$(mktemp -d /tmp/rukt-demo.XXXXXX)
trap '"$here/scripts/registry.sh" stop "$work/reg"' EXIT

echo "==> making a demo image from busybox-static"
"$here/scripts/busybox-rootfs.sh" "$work/rootfs"
python3 "$here/scripts/mkimage.py" "$work/layout" demo --cmd '["/bin/sh","-c","echo hello from rukt"]' \
    "$work/rootfs:." >/dev/null

echo "==> serving it from a local registry"
host=$("$here/scripts/registry.sh" start "$work/reg")
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:demo" "docker://$host/rukt/demo:latest"

echo "==> rukt fetch docker://$host/rukt/demo:latest"
store="$work/store"
"$rukt" --dir "$store" --insecure-options=http fetch "docker://$host/rukt/demo:latest"
echo "==> rukt image list"
"$rukt" --dir "$store" image list
echo "==> rukt image verify"
"$rukt" --dir "$store" image verify
img="$host/rukt/demo:latest"
echo "==> rukt run: a two-app pod under nspawn, the default engine"
echo "    (the apps share the pod's loopback; each has its own root, pid namespace and cgroup)"
"$rukt" --dir "$store" run --uuid-file-save "$work/uuid" --memory=256Mi --hostname=demo \
    "$img" --name server --exec /bin/sh -- -c 'echo "hello over the pod loopback" | nc -l -p 8080 -w 5 >/dev/null; echo "server: served, pid $$ in $(hostname)"' \
    --- "$img" --name client --exec /bin/sh -- -c 'sleep 0.3; echo "client got: $(nc 127.0.0.1 8080 </dev/null)"; grep -E "^(Cap(Eff|Bnd)|Seccomp|NoNewPrivs):" /proc/self/status'
echo "==> rukt status of that pod"
"$rukt" --dir "$store" status --uuid-file "$work/uuid"
echo "==> rukt run --stage1=fly: chroot only, the app keeps this shell's child PID"
"$rukt" --dir "$store" run --stage1=fly "$img"
"$rukt" --dir "$store" run --stage1=fly "$img" --exec /bin/sh -- -c 'echo "uid $(id -u) in $(cat /etc/passwd | wc -l)-user image"; exit 3' || echo "(exit code $? as expected)"
echo "==> rukt list"
"$rukt" --dir "$store" list
echo "==> rukt gc --grace-period=0s"
"$rukt" --dir "$store" gc --grace-period=0s
echo "demo done; store left in $store"
