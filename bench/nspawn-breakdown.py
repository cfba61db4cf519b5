#!/usr/bin/env python3
"""Where one nspawn pod's life goes, measured: a breakdown of `rukt run`.

Usage: nspawn-breakdown.py RUNS GC_COMMAND -- RUKT_RUN_COMMAND...

Runs RUKT_RUN_COMMAND (a `rukt --debug ... run ...`) RUNS times, each after
GC_COMMAND (a shell command, not timed), and reads the timestamps of its
stderr: the supervisor's `phase=<name>` events (stage1-nspawn/src/phase.rs)
and libcontainer's own debug lines, all on the wall clock, which is also the
clock this script reads right before it spawns rukt and right after rukt
exits. Prints the median of each phase in ms, in order, and their sum.
--debug itself costs a little (libcontainer formats its structs), so the
total is a bit above the unlogged hyperfine time.
"""
import datetime
import os
import re
import statistics
import subprocess
import sys
import time

# (phase, the line that ends it: a supervisor phase name or a libcontainer
# message prefix), printed in this order. Phases missing in a run (no
# network) count as 0.
MARKS = [
    ("stage0 + execs", "phase:begin"),
    ("supervisor start (manifest, lock, signals)", "phase:loaded"),
    ("pod cgroup (every v1 hierarchy), warm-up helper", "phase:pod-cgroup"),
    ("networks (CNI)", "phase:networks"),
    ("pod namespaces (net/uts/ipc, lo up)", "phase:namespaces"),
    ("/etc files, pid file", "phase:etc"),
    ("spec, seccomp from cache", "phase:spec"),
    ("libcontainer: state, cgroup manager, clone", "affinity:"),
    ("libcontainer: app cgroups joined + limits", "unshare or setns: LinuxNamespace { typ: Pid"),
    ("libcontainer: init clone, namespaces", "prepare rootfs"),
    ("libcontainer: mounts (root, /proc, /dev, cgroup, /etc, masks)", "reset all caps"),
    ("libcontainer: caps, user, waiting for start", "phase:created"),
    ("libcontainer start, seccomp load, exec", "executing workload"),
    ("app started, ready file, memory shrink", "phase:ready"),
    ("app runs and exits, reaped, output drained", "phase:exited"),
    ("teardown: cgroups killed and removed", "phase:cgroups-removed"),
    ("teardown: networks", "phase:done"),
    ("supervisor exit", "end"),
]
STAMP = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")
PHASE = re.compile(r"phase=\"?([a-z-]+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def stamp(line):
    m = STAMP.search(line)
    if not m:
        return None
    t = datetime.datetime.fromisoformat(m.group(1)).replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


def one(cmd):
    t0 = time.time()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, check=False)
    t_end = time.time()
    if p.returncode != 0:
        sys.exit(f"nspawn-breakdown: {cmd[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    seen = {}
    for line in p.stderr.splitlines():
        line = ANSI.sub("", line)
        t = stamp(line)
        if t is None:
            continue
        m = PHASE.search(line)
        keys = [f"phase:{m.group(1)}"] if m else []
        keys += [k for _, k in MARKS if not k.startswith("phase:") and k in line]
        for k in keys:
            seen.setdefault(k, t)
    seen["end"] = t_end
    # Each phase ends at its mark and began at the mark before it in time
    # (builds may order some phases differently).
    out = {name: 0.0 for name, _ in MARKS}
    last = t0
    for key, t in sorted(seen.items(), key=lambda kv: kv[1]):
        names = [n for n, k in MARKS if k == key]
        if names and t >= last:
            out[names[0]] = t - last
            last = t
    return out


def main():
    runs = int(sys.argv[1])
    gc = sys.argv[2]
    assert sys.argv[3] == "--"
    cmd = sys.argv[4:]
    rows = []
    for _ in range(runs):
        subprocess.run(gc, shell=True, check=False)
        rows.append(one(cmd))
    width = max(len(n) for n, _ in MARKS)
    total = 0.0
    print(f"{'phase':<{width}} {'median ms':>9} {'min':>6} {'max':>6}")
    for name, _ in MARKS:
        v = [r[name] * 1000 for r in rows]
        med = statistics.median(v)
        total += med
        print(f"{name:<{width}} {med:9.2f} {min(v):6.2f} {max(v):6.2f}")
    whole = statistics.median(sum(r.values()) * 1000 for r in rows)
    print(f"{'sum of medians':<{width}} {total:9.2f}")
    print(f"{'median of the whole run (with --debug)':<{width}} {whole:9.2f}")


if __name__ == "__main__":
    main()
