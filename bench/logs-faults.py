"""Reads `perf script -F pid,event,ip,sym,dso,addr` of page faults and
process exits (stdin) and prints the logging supervisor's faults, from its
memory trim to the first exit of one of its app's processes,
with a summary by mapping (bench/logs-faults.sh). Argument: the
rukt-stage1-nspawn binary, for its `.text.rukt_hot` symbols."""

import subprocess
import sys


def hot_symbols(binary):
    """The names of the symbols in the binary's `.text.rukt_hot`."""
    sections = subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True).stdout
    lo = hi = 0
    for line in sections.splitlines():
        fields = line.replace("[ ", "[").split()
        if len(fields) > 5 and fields[1] == ".text.rukt_hot":
            lo, hi = int(fields[3], 16), int(fields[3], 16) + int(fields[5], 16)
    names = set()
    for line in subprocess.run(["nm", binary], capture_output=True, text=True).stdout.splitlines():
        fields = line.split()
        if len(fields) == 3 and lo <= int(fields[0], 16) < hi:
            names.add(fields[2])
    return names


def main():
    hot = hot_symbols(sys.argv[1])
    rows = [line.split() for line in sys.stdin]
    start = next((i for i, r in enumerate(rows) if any("6memory6shrink" in f for f in r)), None)
    if start is None:
        sys.exit("logs-faults: the supervisor's memory trim is not in the trace")
    supervisor = rows[start][0]
    summary = {}
    print("faults of the supervisor between its memory trim and its app's exit:")
    for r in rows[start:]:
        if r[1].startswith("sched:sched_process_exit"):
            break  # the app is done: draining and teardown follow
        if r[0] != supervisor:
            continue
        # pid event addr sym (dso) ip sym (dso): the address, then the instruction
        addr, addr_dso, ip, ip_sym = r[2], r[4], r[5], r[6]
        code = addr == ip
        if "rukt-stage1-nspawn" in addr_dso:
            kind = ("hot text" if ip_sym in hot else "other text") if code else "binary data"
        else:
            kind = addr_dso.strip("()").rsplit("/", 1)[-1] or "anon"
            kind = kind if code or kind.startswith("[") else f"{kind} data"
        summary[kind] = summary.get(kind, 0) + 1
        print(f"  {kind:12} at {ip_sym}")
    print("by mapping (a fault on a file page maps up to 64 KiB; on the heap, 4 KiB):")
    for kind, n in sorted(summary.items(), key=lambda kv: -kv[1]):
        print(f"  {n:4} {kind}")


main()
