#!/usr/bin/env bash
# Offline stand-ins for the images critest v1.36.0 pulls, built with umoci from Debian's
# busybox (the dynamic build, with the host's glibc: busybox-static's shell runs applets
# without exec'ing them, which critest's MaskedPaths spec tells apart) and pushed with skopeo to a loopback docker-registry under their original
# repository paths (the host dropped: registry.k8s.io/e2e-test-images/busybox:1.29-2 is
# e2e-test-images/busybox:1.29-2 there), so a runtime whose mirrors for registry.k8s.io,
# gcr.io and k8s.gcr.io point at that registry pulls them by their original names.
#   critest-images.sh build   build (once; cached) and print the registry's storage directory
#   critest-images.sh list    print the references served, one a line
# The storage is cached in $RUKT_CRITEST_CACHE (default /var/tmp/rukt-critest), keyed by this
# script, scripts/critest-images.c and the busybox, libc6 and gcc versions: a second build
# is a lookup. Serve it with docker-registry (readonly) wherever the runtime can reach loopback.
#
# Not served: gcr.io/k8s-staging-cri-tools/test-image-digest@sha256:9700f9a2... (critest pins
# the manifest digest of the upstream image; no stand-in can have that digest), and the
# Windows images. See docs/cri-conformance.md for what each stand-in does.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache_root=${RUKT_CRITEST_CACHE:-/var/tmp/rukt-critest}
cri=gcr.io/k8s-staging-cri-tools
e2e=registry.k8s.io/e2e-test-images

# reference  kind: the image list, in build order.
images() {
    cat <<EOF
$e2e/busybox:1.29-2 busybox
$e2e/nginx:1.14-2 nginx
$e2e/httpd:2.4.39-4 httpd
$e2e/nonewprivs:1.3 nonewprivs
$cri/test-image-latest:latest marker
$cri/test-image-tag:test marker
$cri/test-image-tag:all marker
$cri/test-image-1:latest marker
$cri/test-image-2:latest marker
$cri/test-image-3:latest marker
$cri/test-image-tags:1 tags
$cri/test-image-tags:2 tags
$cri/test-image-tags:3 tags
$cri/test-image-user-uid:latest user=1002
$cri/test-image-user-username:latest user=www-data
$cri/test-image-user-uid-group:latest user=1003:1004
$cri/test-image-user-username-group:latest user=www-data:1004
$cri/test-image-predefined-group:latest predefined
$cri/hostnet-nginx-amd64:latest hostnet
registry.k8s.io/pause:3.9 pause
k8s.gcr.io/pause:3.9 pause
EOF
}

case "${1:-}" in
list) images | awk '{ print $1 }'; exit 0 ;;
build) ;;
*) echo "usage: critest-images.sh build|list" >&2; exit 2 ;;
esac

key=$( {
    cat "$0" "$here/scripts/critest-images.c"
    dpkg-query -W -f='${Version}\n' busybox-static libc6 gcc
} | sha256sum | cut -c1-16)
cache="$cache_root/images-$key"
if [ -f "$cache/complete" ]; then
    echo "$cache/registry"
    exit 0
fi
# One build at a time (tests run in parallel); the second finds the first's.
mkdir -p "$cache_root"
exec 9>"$cache_root/build.lock"
flock 9
if [ -f "$cache/complete" ]; then
    echo "$cache/registry"
    exit 0
fi
for t in umoci skopeo docker-registry gcc apt-get dpkg-deb; do
    command -v "$t" >/dev/null || { echo "critest-images.sh: $t is missing (run scripts/setup.sh test)" >&2; exit 1; }
done
work=$(mktemp -d "$cache_root/build.XXXXXX")
reg_pid=
cleanup() {
    [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null && wait "$reg_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
echo "==> building the critest images (cached in $cache)" >&2

# The two static helpers (pause, nnp).
gcc -static -O2 -s -o "$work/tiny" "$here/scripts/critest-images.c"
# Debian's dynamic busybox, the version of the installed busybox-static, unpacked here.
bb_version=$(dpkg-query -W -f='${Version}' busybox-static)
(cd "$work" && apt-get -q -o APT::Sandbox::User=root download "busybox=$bb_version" >/dev/null)
dpkg-deb -x "$work"/busybox_*.deb "$work/busybox-deb"
bb="$work/busybox-deb/bin/busybox"

# The base rootfs: busybox with every applet in /bin, the busybox image's users and groups,
# and two applets Debian's busybox lacks and critest runs: `ipcs -m` (the HostIpc specs),
# listing /proc/sysvipc/shm as util-linux's does, and `pgrep PATTERN` (execSync with
# timeout checks the killed `sleep` is gone).
root="$work/rootfs"
mkdir -p "$root"/{bin,etc,dev,proc,sys,root,home,usr/bin,usr/sbin,var/www,var/spool/mail}
install -d -m 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
mkdir -p "$root/lib/x86_64-linux-gnu" "$root/lib64"
for l in $(ldd "$bb" | awk '$3 ~ /^\// { print $3 }'); do cp -L "$l" "$root/lib/x86_64-linux-gnu/"; done
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
# Hard links, as in the busybox image: critest masks /bin/ls (MaskedPaths), which must hide
# that one name, not the binary every applet is.
for a in $("$bb" --list); do [ "$a" = busybox ] || ln "$root/bin/busybox" "$root/bin/$a"; done
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
EOF
cat >"$root/bin/ipcs" <<'EOF'
#!/bin/sh
# ipcs -m stand-in: the shared memory segments of this IPC namespace.
echo
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      perms      bytes      nattch     status"
awk 'NR > 1 { printf "0x%08x %-10s %-10s %-10o %-10s %s\n", $1, $2, $8, $3, $4, $7 }' /proc/sysvipc/shm
echo
EOF
cat >"$root/bin/pgrep" <<'EOF'
#!/bin/sh
# pgrep PATTERN stand-in: the pids of the processes whose name matches PATTERN.
[ $# = 1 ] || { echo "usage: pgrep PATTERN" >&2; exit 2; }
for f in /proc/[0-9]*/comm; do
    read -r c <"$f" 2>/dev/null || continue
    p=${f#/proc/}
    if echo "$c" | grep -q -e "$1"; then echo "${p%/comm}"; found=1; fi
done
[ -n "${found:-}" ]
EOF
chmod 755 "$root/bin/ipcs" "$root/bin/pgrep"

layout="$work/layout"
umoci init --layout "$layout"
umoci new --image "$layout:empty"
tar --numeric-owner --owner=0 --group=0 -C "$root" -cf "$work/base.tar" .
umoci raw add-layer --history.created_by critest-images.sh --image "$layout:empty" --tag base "$work/base.tar"
umoci config --no-history --image "$layout:base" \
    --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --config.cmd sh

# layer NAME: an empty tree $work/layers/NAME to fill; `add TAG NAME` makes TAG = base + it.
layer() { mkdir -p "$work/layers/$1"; echo "$work/layers/$1"; }
add() {
    tar --numeric-owner --owner=0 --group=0 -C "$work/layers/$2" -cf "$work/layers/$2.tar" .
    umoci raw add-layer --history.created_by critest-images.sh --image "$layout:base" --tag "$1" "$work/layers/$2.tar"
}
# A web server: busybox httpd in the foreground on PORT, run as "nginx" (its comm, so
# `pidof nginx` finds it) with "nginx: master process" in its command line (critest's
# ContainerPID spec greps /proc/1/cmdline for it), its pid in /var/run/nginx.pid.
web() {
    local tag=$1 port=$2 d
    d=$(layer "$tag")
    mkdir -p "$d/usr/share/nginx/html" "$d/var/run" "$d/usr/sbin"
    echo '<html><body>stand-in web server</body></html>' >"$d/usr/share/nginx/html/index.html"
    ln -s /bin/busybox "$d/usr/sbin/nginx"
    add "$tag" "$tag"
    umoci config --no-history --image "$layout:$tag" --config.exposedports "$port/tcp" \
        --config.cmd /bin/sh --config.cmd -c --config.cmd \
        "echo \$\$ >/var/run/nginx.pid && exec -a httpd /usr/sbin/nginx -f -p $port -h /usr/share/nginx/html -r 'nginx: master process nginx -g daemon off;'"
}

i=0
while read -r ref kind; do
    i=$((i + 1))
    tag="img$i"
    case "$kind" in
    busybox) umoci tag --image "$layout:base" "$tag" ;;
    marker | tags)
        # Distinct images (critest tells them apart by ID), except the tags:1/2/3 set,
        # which is one image under three tags.
        name=${ref##*/}
        [ "$kind" = tags ] && name=test-image-tags
        if [ ! -d "$work/layers/$name" ]; then
            d=$(layer "$name")
            echo "$name" >"$d/$name"
            add "$name" "$name"
        fi
        umoci tag --image "$layout:$name" "$tag"
        ;;
    user=*) umoci config --no-history --image "$layout:base" --tag "$tag" --config.user "${kind#user=}" ;;
    predefined)
        d=$(layer predefined)
        mkdir -p "$d/etc" "$d/home/default-user"
        chown 1000:1000 "$d/home/default-user"
        cp "$root/etc/passwd" "$root/etc/group" "$d/etc/"
        echo 'default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh' >>"$d/etc/passwd"
        printf 'default-user:x:1000:\ngroup-defined-in-image:x:50000:default-user\n' >>"$d/etc/group"
        tar --numeric-owner -C "$d" -cf "$d.tar" .
        umoci raw add-layer --history.created_by critest-images.sh --image "$layout:base" --tag "$tag" "$d.tar"
        umoci config --no-history --image "$layout:$tag" --config.user 1000
        ;;
    nginx) web "$tag" 80 ;;
    hostnet) web "$tag" 12003 ;;
    httpd)
        # Apache's stand-in: says "httpd" on stderr (critest reads it in the log), serves :80.
        d=$(layer httpd)
        mkdir -p "$d/usr/local/apache2/htdocs"
        echo '<html><body>It works!</body></html>' >"$d/usr/local/apache2/htdocs/index.html"
        add "$tag" httpd
        umoci config --no-history --image "$layout:$tag" --config.exposedports 80/tcp \
            --config.cmd /bin/sh --config.cmd -c --config.cmd \
            'echo "httpd: busybox httpd stand-in on :80" >&2; exec httpd -f -v -p 80 -h /usr/local/apache2/htdocs'
        ;;
    nonewprivs)
        d=$(layer nonewprivs)
        install -D -m 4755 "$work/tiny" "$d/usr/local/bin/nnp"
        add "$tag" nonewprivs
        umoci config --no-history --image "$layout:$tag" --config.entrypoint /usr/local/bin/nnp --clear config.cmd
        ;;
    pause)
        if [ ! -d "$work/layers/pause" ]; then
            d=$(layer pause)
            install -m 755 "$work/tiny" "$d/pause"
            add pause pause
            umoci config --no-history --image "$layout:pause" --config.entrypoint /pause \
                --clear config.cmd --config.user 65535:65535
        fi
        umoci tag --image "$layout:pause" "$tag"
        ;;
    *) echo "critest-images.sh: unknown kind $kind" >&2; exit 1 ;;
    esac
done < <(images)

echo "==> pushing $i references to a loopback registry" >&2
mkdir -p "$work/registry"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do
    python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v2/', timeout=1)" 2>/dev/null && break
    sleep 0.1
done
i=0
while read -r ref _; do
    i=$((i + 1))
    path=${ref#*/}
    skopeo copy -q --dest-tls-verify=false "oci:$layout:img$i" "docker://127.0.0.1:$port/$path" >/dev/null
done < <(images)
kill "$reg_pid" && wait "$reg_pid" 2>/dev/null || true
reg_pid=
rm -rf "$cache"
mkdir -p "$cache"
mv "$work/registry" "$cache/registry"
images | awk '{ print $1 }' >"$cache/images.txt"
touch "$cache/complete"
# Older builds (of an older script or busybox) are not used again.
find "$cache_root" -maxdepth 1 -name 'images-*' ! -name "images-$key" -exec rm -rf {} +
echo "$cache/registry"
