#!/usr/bin/env bash
# The README's first command: on a fresh Debian 12 machine (as root), install
# what rukt needs, build it, make a local demo image from busybox-static,
# serve it from a local registry, fetch it with rukt and run pods from it: a
# two-app pod under nspawn (the default engine), a web server reached through
# -p on 127.0.0.1, and pods under fly. The nspawn pods run inside a network
# namespace made for the demo, standing in for the host, so the demo adds no
# bridge, address or firewall rule to this machine's own network.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh" test
(cd "$here" && cargo build --release -q -p rukt -p rukt-stage1-nspawn -p rukt-stage1-fly)
rukt="$here/target/release/rukt"
work=$(mktemp -d /tmp/rukt-demo.XXXXXX)
demo_ns=rukt-demo-$$
nsx=(nsenter "--net=/run/netns/$demo_ns" --)
cleanup() {
    if [ -s "$work/web.uuid" ]; then
        "${nsx[@]}" "$rukt" --dir "$work/store" stop --uuid-file "$work/web.uuid" >/dev/null 2>&1 || true
    fi
    "${nsx[@]}" "$rukt" --dir "$work/store" gc --grace-period=0s >/dev/null 2>&1 || true
    ip netns del "$demo_ns" 2>/dev/null || true
    "$here/scripts/registry.sh" stop "$work/reg"
}
trap cleanup EXIT
ip netns add "$demo_ns"
"${nsx[@]}" ip link set lo up

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
echo "    (the apps share the pod's network; each has its own root, pid namespace and cgroup)"
"${nsx[@]}" "$rukt" --dir "$store" run --uuid-file-save "$work/uuid" --memory=256Mi --hostname=demo \
    "$img" --name server --exec /bin/sh -- -c 'echo "hello over the pod loopback" | nc -l -p 8080 -w 5 >/dev/null; echo "server: served, pid $$ in $(hostname)"' \
    --- "$img" --name client --exec /bin/sh -- -c 'sleep 0.3; echo "client got: $(nc 127.0.0.1 8080 </dev/null)"; grep -E "^(Cap(Eff|Bnd)|Seccomp|NoNewPrivs):" /proc/self/status'
echo "==> rukt status of that pod"
"${nsx[@]}" "$rukt" --dir "$store" status --uuid-file "$work/uuid"
echo "==> rukt run -p 8080:80: a web server in a pod on the default network"
"${nsx[@]}" "$rukt" --dir "$store" run --uuid-file-save "$work/web.uuid" -p 8080:80 "$img" --name web \
    --exec /bin/sh -- -c 'mkdir -p /www && echo "hello from a pod, through -p on 127.0.0.1" >/www/index.html && exec httpd -f -p 80 -h /www' &
for _ in $(seq 100); do
    "${nsx[@]}" "$rukt" --dir "$store" status --uuid-file "$work/web.uuid" 2>/dev/null | grep -q '^networks=' && break
    sleep 0.1
done
"${nsx[@]}" "$rukt" --dir "$store" status --uuid-file "$work/web.uuid" | grep '^networks='
sleep 0.2
echo "==> wget http://127.0.0.1:8080/ (on the demo's host side)"
"${nsx[@]}" busybox wget -q -O - http://127.0.0.1:8080/
"${nsx[@]}" "$rukt" --dir "$store" stop --force --uuid-file "$work/web.uuid" >/dev/null
wait || true
echo "==> rukt run --stage1=fly: chroot only, the app keeps this shell's child PID"
"$rukt" --dir "$store" run --stage1=fly "$img"
"$rukt" --dir "$store" run --stage1=fly "$img" --exec /bin/sh -- -c 'echo "uid $(id -u) in $(cat /etc/passwd | wc -l)-user image"; exit 3' || echo "(exit code $? as expected)"
echo "==> rukt list"
"$rukt" --dir "$store" list
echo "==> rukt gc --grace-period=0s"
"${nsx[@]}" "$rukt" --dir "$store" gc --grace-period=0s
echo "demo done; store left in $store"
