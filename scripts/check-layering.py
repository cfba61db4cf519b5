#!/usr/bin/env python3
"""The layering rule of the workspace, checked on cargo's own dependency graph.

    stage1-*  ->  contract, sys, net, events; never stage0, pods or images
    net       ->  contract, sys, events
    contract  ->  sys, events  images -> sys, events  pods -> contract, images, net, sys, tpm, events
    tpm       ->  sys (a floor crate: TPM event logging)
    events    ->  sys (a floor crate: the event journal the engines write)
    streaming ->  sys at most (a floor crate: the CRI streaming server)
    rukt      ->  no async runtime (tokio) in the small synchronous CLI
    pods      ->  no command-line parser (clap)
    rukt-cri  ->  pods, images, contract, net, sys, events, proto, streaming (+ tpm through pods)

Reads `cargo metadata` (normal and build dependencies, transitively; dev
dependencies are the tests' business) and exits 1 naming every violation.
`--self-test` checks the checker on small made-up graphs, so a rule that could
never fire is caught too.
"""

import json
import subprocess
import sys

# Workspace packages each may reach, transitively. None: not constrained.
ALLOWED = {
    "rukt-sys": set(),
    "rukt-events": {"rukt-sys"},
    "rukt-contract": {"rukt-sys", "rukt-events"},
    "rukt-net": {"rukt-contract", "rukt-sys", "rukt-events"},
    "rukt-images": {"rukt-sys", "rukt-events"},
    "rukt-tpm": {"rukt-sys"},
    "rukt-streaming": {"rukt-sys"},
    "rukt-pods": {"rukt-contract", "rukt-images", "rukt-sys", "rukt-net", "rukt-tpm", "rukt-events"},
    # The CRI server (issue 15): over the libraries, like the API service
    # (tpm comes through pods); never stage0 or an engine.
    "rukt-cri": {"rukt-pods", "rukt-images", "rukt-contract", "rukt-net", "rukt-sys", "rukt-events",
                 "rukt-proto", "rukt-streaming", "rukt-tpm"},
}
STAGE1 = {"rukt-contract", "rukt-sys", "rukt-net", "rukt-events"}
# An engine's own parts (kvm's guest init, built into its initramfs).
OWN_PARTS = {"rukt-stage1-kvm": {"rukt-kvm-init"}}
# Registry crates a package must never reach.
FORBIDDEN = {
    "rukt": {"tokio", "async-std", "smol"},
    "rukt-pods": {"clap", "tokio"},
}


def is_stage1(name):
    return name.startswith("rukt-stage1-") or name == "rukt-kvm-init"


def violations(packages, edges):
    """packages: {id: name}; edges: {id: [dep ids]} (normal + build deps)."""
    workspace = {i for i, n in packages.items() if n.startswith("rukt")}
    out = []
    for pid in sorted(workspace, key=packages.get):
        name = packages[pid]
        seen, todo = set(), list(edges.get(pid, []))
        while todo:
            d = todo.pop()
            if d not in seen:
                seen.add(d)
                todo.extend(edges.get(d, []))
        reached = {packages[d] for d in seen}
        allowed = STAGE1 | OWN_PARTS.get(name, set()) if is_stage1(name) else ALLOWED.get(name)
        if allowed is not None:
            for bad in sorted(r for r in reached if r.startswith("rukt") and r not in allowed):
                out.append(f"{name} depends on {bad} (allowed: {', '.join(sorted(allowed)) or 'no rukt crate'})")
        for bad in sorted(reached & FORBIDDEN.get(name, set())):
            out.append(f"{name} depends on {bad}, which it must not")
    return out


def from_metadata(meta):
    packages = {p["id"]: p["name"] for p in meta["packages"]}
    edges = {}
    for node in meta["resolve"]["nodes"]:
        edges[node["id"]] = [
            d["pkg"]
            for d in node["deps"]
            if any(k["kind"] in (None, "build") for k in d["dep_kinds"])
        ]
    return packages, edges


def self_test():
    pk = {"a": "rukt-stage1-x", "b": "rukt-pods", "c": "rukt-contract", "d": "rukt-images", "e": "clap", "f": "rukt"}
    assert violations(pk, {"a": ["c"], "b": ["c", "d"], "f": ["b"]}) == []
    # A stage1 reaching images through another crate is caught.
    assert violations(pk, {"a": ["b"], "b": ["d"]}) == [
        "rukt-stage1-x depends on rukt-images (allowed: rukt-contract, rukt-events, rukt-net, rukt-sys)",
        "rukt-stage1-x depends on rukt-pods (allowed: rukt-contract, rukt-events, rukt-net, rukt-sys)",
    ]
    assert violations(pk, {"b": ["e"]}) == ["rukt-pods depends on clap, which it must not"]
    assert violations(pk, {"c": ["d"]}) == ["rukt-contract depends on rukt-images (allowed: rukt-events, rukt-sys)"]
    # The tpm floor crate may not climb the layers.
    pk["g"] = "rukt-tpm"
    assert violations(pk, {"g": ["c"]}) == ["rukt-tpm depends on rukt-contract (allowed: rukt-sys)"]
    # The events floor crate neither: a stage1 may use it, and it may use only sys.
    pk["h"], pk["i"] = "rukt-events", "rukt-sys"
    assert violations(pk, {"a": ["h"], "h": ["i"]}) == []
    assert violations(pk, {"h": ["c"]}) == ["rukt-events depends on rukt-contract (allowed: rukt-sys)"]
    # The streaming floor crate: sys at most, never the pods or images libraries.
    pk["j"] = "rukt-streaming"
    assert violations(pk, {"j": ["i"]}) == []
    assert violations(pk, {"j": ["b"], "b": ["d"]}) == [
        "rukt-streaming depends on rukt-images (allowed: rukt-sys)",
        "rukt-streaming depends on rukt-pods (allowed: rukt-sys)",
    ]
    # The CRI server stays over the libraries: an engine is out of bounds.
    pk["k"] = "rukt-cri"
    assert violations(pk, {"k": ["b", "a"]}) == [
        "rukt-cri depends on rukt-stage1-x (allowed: rukt-contract, rukt-events, rukt-images, rukt-net, "
        "rukt-pods, rukt-proto, rukt-streaming, rukt-sys, rukt-tpm)"
    ]
    print("check-layering: self-test passed")


def main():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
        return 0
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            check=True,
            capture_output=True,
        ).stdout
    )
    bad = violations(*from_metadata(meta))
    for b in bad:
        print(f"check-layering: {b}", file=sys.stderr)
    if bad:
        return 1
    print("check-layering: the stage1 engines depend only on contract, sys, net and events; the layers hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
