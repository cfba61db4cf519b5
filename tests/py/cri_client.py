#!/usr/bin/env python3
"""A CRI client on grpcio from PyPI, for the RPCs crictl cannot send
(ReopenContainerLog) or answers for itself (Remove* of unknown ids), with
stubs generated from the vendored proto by grpc_tools. tests/tests/cri.rs
drives it.

  cri_client.py --stubs DIR gen PROTO_ROOT          generate the stubs into DIR
  cri_client.py --stubs DIR --target unix:SOCK call SERVICE RPC JSON

SERVICE is RuntimeService or ImageService. Prints the reply as JSON; a failed
call prints {"error": "NOT_FOUND", "details": "..."} and exits 3.
"""
import argparse
import json
import os
import subprocess
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stubs", required=True)
    ap.add_argument("--target")
    ap.add_argument("cmd")
    ap.add_argument("rest", nargs="*")
    a = ap.parse_args()
    if a.cmd == "gen":
        os.makedirs(a.stubs, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "grpc_tools.protoc", "-I", a.rest[0],
             "--python_out", a.stubs, "--grpc_python_out", a.stubs,
             os.path.join(a.rest[0], "runtime/v1/api.proto")],
            check=True)
        return 0
    sys.path.insert(0, a.stubs)
    import grpc
    from google.protobuf import json_format
    from runtime.v1 import api_pb2, api_pb2_grpc
    service, rpc, body = a.rest
    # grpc-core sends a unix socket's path as :authority, which tonic rejects.
    ch = grpc.insecure_channel(a.target, options=[("grpc.default_authority", "localhost")])
    stub = getattr(api_pb2_grpc, service + "Stub")(ch)
    method = getattr(stub, rpc)
    req = json_format.Parse(body, getattr(api_pb2, rpc + "Request")())
    try:
        resp = method(req, timeout=60)
    except grpc.RpcError as e:
        print(json.dumps({"error": e.code().name, "details": e.details()}))
        return 3
    print(json_format.MessageToJson(resp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
