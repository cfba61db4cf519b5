#!/usr/bin/env bash
# Builds rukt-streamclient (tests/streamclient: client-go's remotecommand and
# portforward, pinned by its go.mod/go.sum) into /opt/rukt-test/bin, which the
# streaming server's tests (streaming/tests/client_go.rs) drive. Rebuilt only
# when its sources change. Needs Go >= 1.26 (the module proxy serves client-go).
set -euo pipefail
src=$(cd "$(dirname "$0")/../tests/streamclient" && pwd)
bin=/opt/rukt-test/bin/rukt-streamclient
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { echo "setup-streamclient: go is missing (Go >= 1.26 builds the client-go test client)" >&2; exit 1; }
stamp=$(cat "$src/go.mod" "$src/go.sum" "$src/main.go" | sha256sum | cut -d' ' -f1)
if [ -x "$bin" ] && [ "$(cat "$bin.stamp" 2>/dev/null)" = "$stamp" ]; then
    exit 0
fi
echo "setup: building rukt-streamclient (client-go v0.36.3)" >&2
mkdir -p "$(dirname "$bin")"
(cd "$src" && GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -o "$bin.tmp" .)
mv "$bin.tmp" "$bin"
echo "$stamp" >"$bin.stamp"
