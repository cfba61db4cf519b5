#!/usr/bin/env python3
"""An independent client of rukt's API service (rukt.api.v1), on grpcio from
PyPI, with stubs generated from the repository's .proto by grpc_tools. The
functional tests (tests/tests/api.rs) drive it; it prints JSON, one object
per line, so they can assert on what a user would see.

  api_client.py --stubs DIR gen PROTO_ROOT      generate the stubs into DIR
  api_client.py --stubs DIR --target T call RPC JSON
  api_client.py --stubs DIR --target T stream RPC JSON [--count N] [--timeout S]
  api_client.py --stubs DIR --target T health | reflect

T is unix:/path/to.sock or HOST:PORT. A failed call prints
{"error": "NOT_FOUND", "details": "..."} and exits 3.
"""
import argparse
import json
import os
import subprocess
import sys
import time


def gen(stubs, proto_root):
    os.makedirs(stubs, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", proto_root,
         "--python_out", stubs, "--grpc_python_out", stubs,
         os.path.join(proto_root, "rukt/api/v1/api.proto")],
        check=True)


def channel(grpc, target):
    # grpc-core sends a unix socket's path as :authority, which h2 (tonic)
    # rejects; a plain authority avoids it.
    opts = [("grpc.default_authority", "localhost")] if target.startswith("unix:") else []
    return grpc.insecure_channel(target, options=opts)


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--target")
    ap.add_argument("cmd")
    ap.add_argument("rest", nargs="*")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()
    if a.cmd == "gen":
        gen(a.stubs, a.rest[0])
        return 0
    sys.path.insert(0, a.stubs)
    import grpc
    from google.protobuf import json_format
    ch = channel(grpc, a.target)

    def to_json(msg):
        return json_format.MessageToDict(msg, preserving_proto_field_name=True)

    def fail(e):
        out({"error": e.code().name, "details": e.details()})
        return 3

    if a.cmd == "health":
        from grpc_health.v1 import health_pb2, health_pb2_grpc
        try:
            r = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=a.timeout)
        except grpc.RpcError as e:
            return fail(e)
        out({"status": health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)})
        return 0
    if a.cmd == "reflect":
        from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
        stub = reflection_pb2_grpc.ServerReflectionStub(ch)
        try:
            for r in stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=a.timeout):
                out({"services": sorted(s.name for s in r.list_services_response.service)})
                break
        except grpc.RpcError as e:
            return fail(e)
        return 0

    from rukt.api.v1 import api_pb2, api_pb2_grpc
    stub = api_pb2_grpc.PublicAPIStub(ch)
    rpc, body = a.rest[0], (a.rest[1] if len(a.rest) > 1 else "{}")
    req = json_format.Parse(body, getattr(api_pb2, rpc + "Request")())
    method = getattr(stub, rpc)
    try:
        if a.cmd == "call":
            out(to_json(method(req, timeout=a.timeout)))
            return 0
        # A stream: one line per message, flushed at once (with the time it
        # arrived, for latency checks); stops after --count items.
        n = 0
        for msg in method(req, timeout=a.timeout):
            d = to_json(msg)
            d["_received_ns"] = time.time_ns()
            out(d)
            n += len(d.get("events", d.get("lines", [])))
            if a.count and n >= a.count:
                break
        out({"end": True, "items": n})
        return 0
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED and a.cmd == "stream":
            out({"end": False, "error": "DEADLINE_EXCEEDED"})
            return 4
        return fail(e)


if __name__ == "__main__":
    sys.exit(main())
