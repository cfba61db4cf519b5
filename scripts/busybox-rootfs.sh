#!/usr/bin/env bash
# Make a minimal root filesystem from Debian's busybox-static in DIR: the
# demo and the benchmarks build their images from it.
#   busybox-rootfs.sh DIR
set -euo pipefail
dir=${1:?usage: busybox-rootfs.sh DIR}
mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp"
cp /bin/busybox "$dir/bin/busybox"
for applet in sh ls cat echo true false sleep ps id hostname uname wc; do
    ln -sf busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
