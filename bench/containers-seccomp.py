#!/usr/bin/env python3
"""The containers default seccomp profile in the OCI form a runtime reads.

Usage: containers-seccomp.py PROFILE CONFIG.JSON

PROFILE is podman's /usr/share/containers/seccomp.json (Debian's
golang-github-containers-common), written in the moby format: syscall groups
with `includes`/`excludes` on architectures and capabilities, and an
`archMap`. This does what podman does before it hands the profile to its OCI
runtime: keep the groups that apply to an amd64 host and to the capabilities
the container's bounding set holds (read from CONFIG.JSON), drop the moby-only
fields, and write the result into CONFIG.JSON as `linux.seccomp`.
"""
import json
import sys

ARCH = "amd64"
# moby's architecture names -> libseccomp's, for the group filters.
NATIVE = "SCMP_ARCH_X86_64"


def applies(group, caps):
    inc, exc = group.get("includes") or {}, group.get("excludes") or {}
    if inc.get("arches") and ARCH not in inc["arches"]:
        return False
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        return False
    if exc.get("arches") and ARCH in exc["arches"]:
        return False
    if exc.get("caps") and any(c in caps for c in exc["caps"]):
        return False
    return True


def convert(profile, caps):
    arches = []
    for m in profile.get("archMap") or []:
        if m["architecture"] == NATIVE:
            arches = [m["architecture"], *m.get("subArchitectures", [])]
    out = {"defaultAction": profile["defaultAction"], "architectures": arches, "syscalls": []}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = profile["defaultErrnoRet"]
    for g in profile["syscalls"]:
        if not applies(g, caps):
            continue
        s = {"names": g["names"], "action": g["action"]}
        if g.get("args"):
            s["args"] = g["args"]
        if g.get("errnoRet") is not None:
            s["errnoRet"] = g["errnoRet"]
        out["syscalls"].append(s)
    return out


def main():
    profile_path, config_path = sys.argv[1:]
    profile = json.load(open(profile_path))
    config = json.load(open(config_path))
    caps = set(config["process"].get("capabilities", {}).get("bounding", []))
    config.setdefault("linux", {})["seccomp"] = convert(profile, caps)
    json.dump(config, open(config_path, "w"), indent=1)


if __name__ == "__main__":
    main()
