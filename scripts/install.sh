#!/bin/sh
# Installs rukt's binaries and its systemd files from a built tree:
#   scripts/install.sh [--release] [DESTDIR]
# binaries to $PREFIX/bin and $PREFIX/lib/rukt/stage1 (PREFIX=/usr), the units to
# $UNITDIR (/usr/lib/systemd/system), tmpfiles.d/rukt.conf, and the generator
# as a link to rukt in /usr/lib/systemd/system-generators. Enable the gc timer
# afterwards with `systemctl enable --now rukt-gc.timer`.
set -eu
profile=debug
if [ "${1:-}" = --release ]; then profile=release; shift; fi
dest=${1:-}
prefix=${PREFIX:-/usr}
unitdir=${UNITDIR:-/usr/lib/systemd/system}
here=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$here/target}/$profile

install -d "$dest$prefix/bin" "$dest$prefix/lib/rukt/stage1" "$dest$unitdir" \
    "$dest/usr/lib/tmpfiles.d" "$dest/usr/lib/systemd/system-generators"
install -m 0755 "$target/rukt" "$dest$prefix/bin/rukt"
# The kvm engine finds its guest init next to itself.
for s in rukt-stage1-nspawn rukt-stage1-kvm rukt-stage1-fly rukt-kvm-init; do
    if [ -e "$target/$s" ]; then
        install -m 0755 "$target/$s" "$dest$prefix/lib/rukt/stage1/"
    fi
done
for b in rukt-api-service rukt-cri; do
    if [ -e "$target/$b" ]; then
        install -m 0755 "$target/$b" "$dest$prefix/lib/rukt/$b"
    fi
done
for u in rukt-gc.service rukt-gc.timer rukt@.service rukt-api.socket rukt-api.service rukt-cri.service; do
    install -m 0644 "$here/dist/systemd/$u" "$dest$unitdir/$u"
done
install -m 0755 "$here/dist/kubelet-wrapper" "$dest$prefix/lib/rukt/kubelet-wrapper"
install -m 0644 "$here/dist/systemd/tmpfiles.d/rukt.conf" "$dest/usr/lib/tmpfiles.d/rukt.conf"
install -d "$dest/usr/lib/sysusers.d"
install -m 0644 "$here/dist/systemd/sysusers.d/rukt.conf" "$dest/usr/lib/sysusers.d/rukt.conf"
ln -sf "$prefix/bin/rukt" "$dest/usr/lib/systemd/system-generators/rukt-systemd-generator"
