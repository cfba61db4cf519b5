#!/usr/bin/env bash
# The Python virtualenv of the API tests and benchmark: the independent gRPC
# client (tests/py/api_client.py) runs on grpcio from PyPI, pinned here.
# Idempotent: an existing venv with these versions is left alone.
set -euo pipefail
venv=${RUKT_TEST_VENV:-/opt/rukt-test/venv}
pins=(grpcio==1.85.3 grpcio-tools==1.85.1 grpcio-health-checking==1.85.1 grpcio-reflection==1.85.1 protobuf==7.36.2)
want=$(printf '%s\n' "${pins[@]}" | sort)
if [ -x "$venv/bin/python" ]; then
    have=$("$venv/bin/python" -m pip freeze 2>/dev/null | grep -iE '^(grpcio|grpcio-tools|grpcio-health-checking|grpcio-reflection|protobuf)==' | sort || true)
    if [ "$(echo "$have" | tr 'A-Z' 'a-z')" = "$(echo "$want" | tr 'A-Z' 'a-z')" ]; then
        exit 0
    fi
fi
echo "setup: making the API test venv $venv" >&2
mkdir -p "$(dirname "$venv")"
/usr/bin/python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${pins[@]}"
# Readable by the unprivileged users the API tests run the client as.
chmod -R a+rX "$(dirname "$venv")"
