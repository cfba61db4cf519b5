#!/usr/bin/env python3
"""The CRI benchmark's client (bench/cri.sh runs it inside scripts/cri-env.sh, once per runtime).

    cri-bench.py STUBS OUT.json

Over one gRPC channel to $CRI_ENDPOINT (warm: Version first), for BENCH_PODS pods in turn:
RunPodSandbox, CreateContainer + StartContainer (busybox `sleep 3600`), then BENCH_EXECS
ExecSync calls of `/bin/true`; every call timed on the client (time.perf_counter). With all
the pods running it counts the processes and their RSS in the run's PID namespace against
the count before the first pod (the daemon idle): the processes each pod adds, by name, and
the runtime's share of their memory, RSS and PSS (everything but the containers' own
`sleep`). Then
StopPodSandbox + RemovePodSandbox of each pod, timed. Writes the samples and the counts to
OUT.json; bench/cri.sh prints the comparison. Not a test: it never fails on a time.
"""
import json
import os
import sys
import time
import uuid

sys.path.insert(0, sys.argv[1])
import grpc  # noqa: E402
import api_pb2 as cri  # noqa: E402
import api_pb2_grpc  # noqa: E402

BUSYBOX = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
PAUSE = "registry.k8s.io/pause:3.9"
# Not the runtime's: this client, the environment's PID 1 and shell, the registry.
OURS = {"python3", "python", "bash", "docker-registry", "cri-bench.py"}
WORKLOAD = {"sleep"}


def pss_kb(pid):
    """Proportional set size: shared pages (a binary every shim maps) split among users."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def procs():
    """{pid: (comm, rss kB, pss kB)} of every process in this PID namespace."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/status") as f:
                st = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        out[int(p)] = (st["Name"].strip(), int(st.get("VmRSS", "0 kB").split()[0]), pss_kb(p))
    return out


def timed(samples, key, fn, *a, **kw):
    t = time.perf_counter()
    r = fn(*a, **kw)
    samples.setdefault(key, []).append((time.perf_counter() - t) * 1000)
    return r


def main():
    out_path = sys.argv[2]
    npods = int(os.environ.get("BENCH_PODS", "10"))
    nexec = int(os.environ.get("BENCH_EXECS", "10"))
    handler = os.environ.get("CRI_HANDLER", "") if os.environ["CRI_RUNTIME"] == "rukt" else ""
    daemon = int(os.environ["CRI_DAEMON_PID"])
    # grpc-core sends a unix socket's path as :authority, which h2 (tonic)
    # rejects; a plain authority works with every server.
    ch = grpc.insecure_channel(
        os.environ["CRI_ENDPOINT"], options=[("grpc.default_authority", "localhost")]
    )
    rt = api_pb2_grpc.RuntimeServiceStub(ch)
    im = api_pb2_grpc.ImageServiceStub(ch)
    version = rt.Version(cri.VersionRequest(version="0.1.0"), timeout=60)
    for ref in (BUSYBOX, PAUSE):
        im.PullImage(cri.PullImageRequest(image=cri.ImageSpec(image=ref)), timeout=300)
    logdir = os.path.join(os.environ["CRI_DIR"], "bench-logs")
    # What kubelet sends for a pod without shareProcessNamespace or host
    # namespaces: the pod's network and IPC, a PID namespace per container.
    own_pid = cri.NamespaceOption(network=cri.NamespaceMode.Value("POD"),
                                  pid=cri.NamespaceMode.Value("CONTAINER"),
                                  ipc=cri.NamespaceMode.Value("POD"))

    def sandbox_config(i):
        u = str(uuid.uuid4())
        os.makedirs(os.path.join(logdir, u), exist_ok=True)
        return cri.PodSandboxConfig(
            metadata=cri.PodSandboxMetadata(name=f"bench-{i}", uid=u, namespace="bench", attempt=0),
            hostname=f"bench-{i}", log_directory=os.path.join(logdir, u),
            linux=cri.LinuxPodSandboxConfig(
                security_context=cri.LinuxSandboxSecurityContext(namespace_options=own_pid)))

    def pod(samples, i):
        cfg = sandbox_config(i)
        pid = timed(samples, "RunPodSandbox", rt.RunPodSandbox,
                    cri.RunPodSandboxRequest(config=cfg, runtime_handler=handler), timeout=120).pod_sandbox_id
        ccfg = cri.ContainerConfig(
            metadata=cri.ContainerMetadata(name="sleeper", attempt=0),
            image=cri.ImageSpec(image=BUSYBOX), command=["sleep", "3600"], log_path="sleeper.log",
            linux=cri.LinuxContainerConfig(
                security_context=cri.LinuxContainerSecurityContext(namespace_options=own_pid)))
        t = time.perf_counter()
        cid = timed(samples, "CreateContainer", rt.CreateContainer, cri.CreateContainerRequest(
            pod_sandbox_id=pid, config=ccfg, sandbox_config=cfg), timeout=120).container_id
        timed(samples, "StartContainer", rt.StartContainer, cri.StartContainerRequest(container_id=cid), timeout=120)
        samples.setdefault("CreateContainer+StartContainer", []).append((time.perf_counter() - t) * 1000)
        for _ in range(nexec):
            r = timed(samples, "ExecSync", rt.ExecSync,
                      cri.ExecSyncRequest(container_id=cid, cmd=["/bin/true"], timeout=30), timeout=60)
            if r.exit_code != 0:
                raise SystemExit(f"ExecSync /bin/true exited {r.exit_code}: {r.stderr!r}")
        return pid

    # One pod first, not counted (first use of the image, caches, the CNI bridge).
    warm = pod({}, "warm")
    rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=warm), timeout=120)
    rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=warm), timeout=120)
    time.sleep(2)
    before = procs()
    samples = {}
    pods = [pod(samples, i) for i in range(npods)]
    time.sleep(2)
    during = procs()
    for p in pods:
        t = time.perf_counter()
        rt.StopPodSandbox(cri.StopPodSandboxRequest(pod_sandbox_id=p), timeout=120)
        rt.RemovePodSandbox(cri.RemovePodSandboxRequest(pod_sandbox_id=p), timeout=120)
        samples.setdefault("StopPodSandbox+RemovePodSandbox", []).append((time.perf_counter() - t) * 1000)

    def runtime_side(ps):
        return {p: v for p, v in ps.items() if v[0] not in OURS and p != 1}

    added = {p: v for p, v in runtime_side(during).items() if p not in before}
    by_name = {}
    for name, rss, _ in added.values():
        n, r = by_name.get(name, (0, 0))
        by_name[name] = (n + 1, r + rss)
    idle = runtime_side(before)
    result = {
        "runtime": os.environ["CRI_RUNTIME"],
        "version": f"{version.runtime_name} {version.runtime_version}",
        "handler": handler,
        "pods": npods,
        "samples_ms": samples,
        "daemon_idle_rss_kb": before.get(daemon, ("", 0, 0))[1],
        "idle_processes": sorted(v[0] for v in idle.values()),
        "idle_rss_kb": sum(v[1] for v in idle.values()),
        "added_by_name": {k: {"count": n, "rss_kb": r} for k, (n, r) in sorted(by_name.items())},
        "added_processes": len(added),
        "added_runtime_rss_kb": sum(r for name, r, _ in added.values() if name not in WORKLOAD),
        "added_runtime_pss_kb": sum(p for name, _, p in added.values() if name not in WORKLOAD),
        "daemon_rss_with_pods_kb": during.get(daemon, ("", 0, 0))[1],
    }
    with open(out_path, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
