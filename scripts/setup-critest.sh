#!/usr/bin/env bash
# cri-tools' critest and crictl, pinned, in /opt/rukt-test/bin (from scripts/setup.sh):
# Debian has no cri-tools. crictl is `go install`ed; critest is a Go test binary (cri-tools'
# Makefile builds it with `go test -c`), built from the module's source in Go's module cache;
# ginkgo (the version cri-tools' go.mod pins) is the CLI critest -parallel runs. Each is
# skipped when the pinned version is already there.
set -euo pipefail
bin=/opt/rukt-test/bin
cri_tools=v1.36.0
ginkgo=v2.28.1 # github.com/onsi/ginkgo/v2 in cri-tools v1.36.0's go.mod
ldflags="-X sigs.k8s.io/cri-tools/pkg/version.Version=$cri_tools"

have_crictl() { [ -x "$bin/crictl" ] && go version -m "$bin/crictl" 2>/dev/null | grep -q "sigs.k8s.io/cri-tools[[:space:]]*$cri_tools"; }
have_critest() { [ -x "$bin/critest" ] && "$bin/critest" -version 2>/dev/null | grep -qx "critest version: $cri_tools"; }
have_ginkgo() { [ -x "$bin/ginkgo" ] && "$bin/ginkgo" version 2>/dev/null | grep -qx "Ginkgo Version ${ginkgo#v}"; }

have_crictl && have_critest && have_ginkgo && exit 0
command -v go >/dev/null || { echo "setup-critest: go is missing (cri-tools $cri_tools needs Go 1.26)" >&2; exit 1; }
mkdir -p "$bin"
if ! have_crictl; then
    echo "setup-critest: installing crictl $cri_tools" >&2
    GOBIN=$bin CGO_ENABLED=0 go install -ldflags "$ldflags" "sigs.k8s.io/cri-tools/cmd/crictl@$cri_tools"
fi
if ! have_critest; then
    echo "setup-critest: building critest $cri_tools" >&2
    src=$(go mod download -json "sigs.k8s.io/cri-tools@$cri_tools" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    (cd "$src" && CGO_ENABLED=0 go test -c -ldflags "$ldflags" -o "$bin/critest.new" ./cmd/critest)
    mv "$bin/critest.new" "$bin/critest"
fi
if ! have_ginkgo; then
    echo "setup-critest: installing ginkgo $ginkgo" >&2
    GOBIN=$bin CGO_ENABLED=0 go install "github.com/onsi/ginkgo/v2/ginkgo@$ginkgo"
fi
