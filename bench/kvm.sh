#!/usr/bin/env bash
# Benchmark: a kvm pod running /bin/true, start to exit, against what the VM alone
# costs. Side by side, in one hyperfine run:
#   floor        qemu-system-x86_64 with the same machine, CPU, memory, kernel (the
#                PVH vmlinux rukt extracted and cached) and kernel command line, and a
#                minimal initramfs whose /init (static C, 700 KB) powers off at once
#   rukt-kvm     rukt run --stage1=kvm IMG --exec /bin/true (image already fetched;
#                a `rukt gc` before each run is not counted)
#   rukt-nspawn  rukt run --stage1=nspawn of the same image, when that stage1 runs
#                (skipped, with a note, while it answers "not implemented")
# Accel: $BENCH_ACCEL (default: what rukt's probe picks; TCG on hosts whose KVM cannot
# run the guest). Prints medians, the ratio rukt-kvm / floor (target <= 1.2x) and a
# boot-time budget read off one --debug run's console (kernel timestamps).
# Not a test: it never fails on a time.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "${BENCH_DIR:-$here/bench/out/kvm}")
runs=${BENCH_RUNS:-10}
[ "$(id -u)" = 0 ] || { echo "kvm.sh: needs root" >&2; exit 1; }
"$here/scripts/setup.sh" bench >/dev/null 2>&1
prefix=${RUKT_KVM_PREFIX:-/opt/rukt/kvm}
qemu=${RUKT_KVM_QEMU:-$prefix/qemu/usr/bin/qemu-system-x86_64}
qemu_data=${RUKT_KVM_QEMU_DATA:-$prefix/qemu/usr/share/qemu}

(cd "$here" && cargo build --release -q -p rukt -p rukt-stage1-kvm -p rukt-kvm-init)
(cd "$here" && cargo build --release -q -p rukt-stage1-nspawn) || true
bin=$(realpath -m "${CARGO_TARGET_DIR:-$here/target}")/release
rukt="$bin/rukt"
store="$work/store"
mkdir -p "$work"
[ -d "$store" ] && "$rukt" --dir "$store" gc --grace-period=0s >/dev/null 2>&1 || true
rm -rf "$store" "$work/rootfs" "$work/layout" "$work/floor"

echo "==> making a busybox image (as scripts/demo.sh)" >&2
"$here/scripts/busybox-rootfs.sh" "$work/rootfs"
python3 "$here/scripts/mkimage.py" "$work/layout" bench --cmd '["/bin/true"]' "$work/rootfs:." >/dev/null
img="oci:$work/layout:bench"
"$rukt" --dir "$store" fetch -q "$img" >/dev/null

# One run builds and caches the vmlinux and the initramfs, and probes the accel.
accel=${BENCH_ACCEL:-auto}
"$rukt" --dir "$store" run --stage1=kvm --net=none --kvm-accel="$accel" "$img" --exec /bin/true
if [ "$accel" = auto ]; then
    accel=$(cat "$store"/cache/stage1-kvm/accel-*)
fi
vmlinux=$(ls "$store"/cache/stage1-kvm/vmlinux-* | grep -v '\.none$' | head -1)
[ -f "$vmlinux" ] || { echo "kvm.sh: no cached vmlinux in $store/cache/stage1-kvm" >&2; exit 1; }

# The floor's initramfs: /init powers off at once.
mkdir -p "$work/floor"
printf '#include <sys/reboot.h>\nint main(void) { reboot(RB_POWER_OFF); return 0; }\n' >"$work/floor/init.c"
gcc -static -Os -s -o "$work/floor/init" "$work/floor/init.c"
python3 - "$work/floor/init" "$work/floor/initramfs.cpio" <<'PY'
import sys
init, out = sys.argv[1], sys.argv[2]
def entry(f, ino, name, mode, data=b""):
    nb = name.encode() + b"\0"
    f.write(("070701" + "".join("%08X" % v for v in
        [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0])).encode() + nb)
    f.write(b"\0" * (-(110 + len(nb)) % 4) + data + b"\0" * (-len(data) % 4))
with open(out, "wb") as f:
    entry(f, 1, "dev", 0o40755)
    entry(f, 2, "init", 0o100755, open(init, "rb").read())
    entry(f, 3, "TRAILER!!!", 0)
PY

# The same machine and command line as stage1-kvm/src/vmm/qemu.rs and cmdline.rs.
khz=$(awk -F: '/^cpu MHz/ {printf "%d", $2 * 1000; exit}' /proc/cpuinfo)
append="console=ttyS0 reboot=t panic=-1 pci=off nokaslr mitigations=off cryptomgr.notests random.trust_cpu=on i8042.noaux i8042.nokbd i8042.nopnp i8042.dumbkbd 8250.nr_uarts=1 no_timer_check noreplace-smp rdinit=/init quiet"
cpu=max
if [ "$accel" = tcg ]; then
    append+=" tsc=reliable tsc_early_khz=$khz lpj=$((khz * 1000 / 250))"
else
    cpu=host,-arch-capabilities
fi
floor="$qemu -L $qemu_data -nodefaults -no-user-config -display none -no-reboot \
-machine microvm,x-option-roms=off,pit=off,pic=off,rtc=off,isa-serial=on,acpi=on,memory-backend=mem \
-accel $accel -cpu $cpu -smp 1 -m 256M -object memory-backend-memfd,id=mem,size=256M,share=on \
-global virtio-mmio.force-legacy=false -kernel $vmlinux -initrd $work/floor/initramfs.cpio \
-append '$append' -serial file:$work/floor/console.log"

gc="$rukt --dir $store gc --grace-period=0s"
cmds=(-n floor --prepare true "$floor"
    -n rukt-kvm --prepare "$gc" "$rukt --dir $store run --stage1=kvm --net=none --kvm-accel=$accel $img --exec /bin/true")
note=""
if "$rukt" --dir "$store" run --stage1=nspawn --net=none "$img" --exec /bin/true >"$work/nspawn.out" 2>&1; then
    cmds+=(-n rukt-nspawn --prepare "$gc" "$rukt --dir $store run --stage1=nspawn --net=none $img --exec /bin/true")
else
    note="rukt-nspawn skipped: $(tail -1 "$work/nspawn.out")"
fi

echo "==> hyperfine ($runs runs each, accel $accel)" >&2
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/hyperfine.json" "${cmds[@]}" >&2

# Boot-time budget: one --debug run; the kernel's own timestamps on its console.
$gc >/dev/null 2>&1
"$rukt" --dir "$store" --debug run --stage1=kvm --net=none --kvm-accel="$accel" "$img" --exec /bin/true \
    >"$work/debug.out" 2>&1 || true
console=$(ls -t "$store"/pods/*/*/stage1/console.log | head -1)

python3 - "$work/hyperfine.json" "$console" "$note" <<'PY'
import json, re, sys
res = {r["command"]: r for r in json.load(open(sys.argv[1]))["results"]}
med = {k: sorted(r["times"])[len(r["times"]) // 2] for k, r in res.items()}
print("| contender | median | vs floor |")
print("|---|---|---|")
for k in ("floor", "rukt-kvm", "rukt-nspawn"):
    if k in med:
        print(f"| {k} | {med[k]*1000:.0f} ms | {med[k]/med['floor']:.2f}x |")
if sys.argv[3]:
    print(f"\n{sys.argv[3]}")
print(f"\nrukt-kvm / floor = {med['rukt-kvm']/med['floor']:.2f}x (target <= 1.2x)")
text = open(sys.argv[2], errors="replace").read()
def ts(pat):
    m = re.search(r"\[\s*([0-9.]+)\][^\n]*" + pat, text)
    return float(m.group(1)) if m else None
run_init, power = ts("Run /init as init process"), ts("reboot: Power down")
print("\nboot budget of one rukt-kvm run (guest clock, --debug console):")
if run_init is not None:
    print(f"  kernel start -> /init:          {run_init*1000:.0f} ms")
if run_init is not None and power is not None:
    print(f"  /init -> power off (modules, port, virtiofs, app): {(power-run_init)*1000:.0f} ms")
print(f"  VMM start + host side (rukt-kvm median - guest time): "
      f"{(med['rukt-kvm'] - (power or 0))*1000:.0f} ms")
PY
$gc >/dev/null 2>&1 || true
