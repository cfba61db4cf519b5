#!/usr/bin/env python3
"""Summarise critest's ginkgo JSON reports: a table per runtime and every spec side by side.

    critest-report.py --out DIR RUNTIME...

Reads DIR/RUNTIME.json (written by scripts/critest.sh with -ginkgo.json-report); a runtime
without a report (not built, or critest could not start) is shown as "-" with the first line
of DIR/RUNTIME.log as the reason. Writes DIR/compare.md (both tables, markdown) and
DIR/compare.tsv (spec, then one result per runtime) and prints compare.md. Exit status 0 if
every report has no failed spec, 1 otherwise (or when no report exists).
"""
import argparse
import json
import os
import sys

# ginkgo's spec states, as counted here.
FAILED = {"failed", "panicked", "interrupted", "timedout", "aborted"}


def load(path):
    """{spec name: (state, first line of the failure)} from one ginkgo JSON report."""
    with open(path) as f:
        suites = json.load(f)
    specs = {}
    for suite in suites:
        for s in suite.get("SpecReports") or []:
            if s.get("LeafNodeType") != "It":
                continue
            name = " ".join((s.get("ContainerHierarchyTexts") or []) + [s.get("LeafNodeText", "")])
            msg = ((s.get("Failure") or {}).get("Message") or "").split()
            specs[name] = (s.get("State", "?"), " ".join(msg)[:240])
    return specs


def counts(specs):
    c = {"passed": 0, "failed": 0, "skipped": 0}
    for state, _ in specs.values():
        if state == "passed":
            c["passed"] += 1
        elif state in FAILED:
            c["failed"] += 1
        else:
            c["skipped"] += 1
    c["total"] = len(specs)
    c["ran"] = c["passed"] + c["failed"]
    return c


def reason(out, rt):
    try:
        with open(os.path.join(out, rt + ".log")) as f:
            lines = [x.strip() for x in f if x.strip()]
    except OSError:
        lines = []
    return lines[-1][:200] if lines else "no report"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("runtimes", nargs="+")
    args = ap.parse_args()
    reports = {}
    for rt in args.runtimes:
        path = os.path.join(args.out, rt + ".json")
        if os.path.exists(path):
            reports[rt] = load(path)
    lines = ["| runtime | passed | failed | skipped | total | ran |", "|---|---|---|---|---|---|"]
    for rt in args.runtimes:
        if rt in reports:
            c = counts(reports[rt])
            lines.append(f"| {rt} | {c['passed']} | {c['failed']} | {c['skipped']} | {c['total']} | {c['ran']} |")
        else:
            lines.append(f"| {rt} | - | - | - | - | - ({reason(args.out, rt)}) |")
    names = sorted({n for r in reports.values() for n in r})
    lines += ["", "| spec | " + " | ".join(args.runtimes) + " |", "|---" * (len(args.runtimes) + 1) + "|"]
    tsv = ["spec\t" + "\t".join(args.runtimes)]
    failures = []
    for n in names:
        cells = []
        for rt in args.runtimes:
            state, msg = reports.get(rt, {}).get(n, ("-", ""))
            cells.append(state)
            if state in FAILED:
                failures.append(f"- {rt}: {n}: {msg}")
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
        tsv.append(n + "\t" + "\t".join(cells))
    if failures:
        lines += ["", "Failures (the start of each message):", ""] + failures
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "compare.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "compare.tsv"), "w") as f:
        f.write("\n".join(tsv) + "\n")
    sys.stdout.write(text)
    ok = reports and all(counts(r)["failed"] == 0 for r in reports.values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
