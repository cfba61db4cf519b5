#!/usr/bin/env bash
# Install what the kvm stage1 needs into a private prefix (run as root):
#   $PREFIX/qemu    qemu-system-x86, -common, -data 7.2 from Debian 12, unpacked
#                   (qemu-system-x86_64, /usr/lib/qemu/virtiofsd, qboot.rom)
#   $PREFIX/kernel  linux-image-cloud-amd64, unpacked (vmlinuz + modules)
# PREFIX is $RUKT_KVM_PREFIX, default /opt/rukt/kvm (docs/stage1-kvm.md).
#
# Nothing is installed into the host's own paths but the shared libraries
# qemu links against (with apt, as ordinary dependencies): installing
# qemu-system-x86 with apt would remove the newer qemu-utils from backports
# that these machines carry, and a guest kernel has no business in /boot.
# Idempotent: a package whose unpacked version is recorded is not fetched
# again; everything is unpacked into a temporary directory first and renamed
# into place, so an interrupted run leaves the old tree or none.
set -euo pipefail
prefix=${RUKT_KVM_PREFIX:-/opt/rukt/kvm}
export DEBIAN_FRONTEND=noninteractive
updated=
apt_update() {
    [ -n "$updated" ] || { apt-get update -q >/dev/null; updated=1; }
}

# candidate PACKAGE: the version apt would install.
candidate() {
    apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ {print $2}'
}

# unpack NAME PKG...: dpkg -x each package into $prefix/NAME, unless the
# versions recorded in $prefix/NAME/.versions are the current candidates.
unpack() {
    local name=$1; shift
    local want="" p v
    for p in "$@"; do
        v=$(candidate "$p")
        if [ -z "$v" ] || [ "$v" = "(none)" ]; then
            apt_update
            v=$(candidate "$p")
        fi
        [ -n "$v" ] && [ "$v" != "(none)" ] || { echo "setup-kvm: no package $p" >&2; exit 1; }
        want+="$p=$v"$'\n'
    done
    if [ -f "$prefix/$name/.versions" ] && [ "$(cat "$prefix/$name/.versions")" = "$(printf '%s' "$want")" ]; then
        return
    fi
    echo "setup-kvm: unpacking $* into $prefix/$name" >&2
    mkdir -p "$prefix"
    local tmp
    tmp=$(mktemp -d "$prefix/.$name.XXXXXX")
    (
        cd "$tmp"
        apt-get download -q "$@" >/dev/null 2>&1 || { apt_update; apt-get download -q "$@" >/dev/null; }
        mkdir root
        for deb in ./*.deb; do dpkg -x "$deb" root; done
        rm -f ./*.deb
        printf '%s' "$want" >root/.versions
    )
    rm -rf "$prefix/$name.old"
    [ -e "$prefix/$name" ] && mv "$prefix/$name" "$prefix/$name.old"
    mv "$tmp/root" "$prefix/$name"
    rm -rf "$tmp" "$prefix/$name.old"
}

# The kernel metapackage names the versioned image package.
apt_update_if_unknown() {
    [ -n "$(candidate linux-image-cloud-amd64)" ] || apt_update
}
apt_update_if_unknown
kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
[ -n "$kernel_pkg" ] || { echo "setup-kvm: cannot resolve linux-image-cloud-amd64" >&2; exit 1; }

unpack qemu qemu-system-x86 qemu-system-common qemu-system-data
unpack kernel "$kernel_pkg"

# Shared libraries of the two binaries rukt runs, installed with apt: the
# Depends of the packages, less the qemu packages and firmware themselves.
libs=()
for p in qemu-system-x86 qemu-system-common; do
    while read -r dep; do
        case "$dep" in
        qemu-* | seabios | ipxe-qemu | libc6 | "") ;;
        *) libs+=("$dep") ;;
        esac
    done < <(apt-cache show "$p=$(candidate "$p")" | awk -F': ' '/^Depends:/ {print $2; exit}' |
        tr ',' '\n' | sed -e 's/([^)]*)//g' -e 's/|.*//' -e 's/ //g')
done
missing=()
for l in $(printf '%s\n' "${libs[@]}" | sort -u); do
    dpkg-query -W -f='${Status}' "$l" 2>/dev/null | grep -q "install ok installed" || missing+=("$l")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup-kvm: installing ${missing[*]}" >&2
    apt_update
    # --no-remove: refuse rather than take anything off the machine.
    apt-get install -y -q --no-install-recommends --no-remove "${missing[@]}" >/dev/null
fi

qemu="$prefix/qemu/usr/bin/qemu-system-x86_64"
if ldd "$qemu" "$prefix/qemu/usr/lib/qemu/virtiofsd" | grep -q "not found"; then
    ldd "$qemu" "$prefix/qemu/usr/lib/qemu/virtiofsd" | grep "not found" >&2
    echo "setup-kvm: libraries missing" >&2
    exit 1
fi
"$qemu" --version | head -1 >&2
ls "$prefix"/kernel/boot/vmlinuz-* >&2
