#!/usr/bin/env bash
# Builds a real kubelet from the Go module registry, for the fly and CRI
# work's tests (docs/stage1-fly.md): scripts/build-kubelet.sh [OUT]
# (default target/kubelet/kubelet). Go is on these machines for test tools;
# the kubelet is never part of the product.
#
# `go install k8s.io/kubernetes/cmd/kubelet@vX` is refused: kubernetes'
# go.mod replaces its staging modules (k8s.io/api, k8s.io/client-go, ...)
# with ./staging directories. A wrapper module requires kubernetes and
# replaces each of those with its published v0.<minor>.<patch> instead.
# Takes a long while on two cores the first time (the Go build cache keeps
# it afterwards).
set -euo pipefail
version=${KUBELET_VERSION:-v1.36.3}
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(realpath -m "${1:-$here/target/kubelet/kubelet}")
staging=v0.${version#v1.}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
gomod=$(go mod download -json "k8s.io/kubernetes@$version" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
{
    echo "module rukt.invalid/kubelet"
    echo
    echo "go $(sed -n 's/^go //p' "$gomod")"
    echo
    echo "require k8s.io/kubernetes $version"
    echo
    echo "replace ("
    awk '$2 == "=>" && $3 ~ /^\.\/staging\// { print "\t" $1 " => " $1 " '"$staging"'" }' "$gomod"
    echo ")"
} >go.mod
printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/kubelet"\n' >tools.go
GOFLAGS=-mod=mod go mod tidy
mkdir -p "$(dirname "$out")"
go build -ldflags "-X k8s.io/component-base/version.gitVersion=$version" -o "$out" k8s.io/kubernetes/cmd/kubelet
"$out" --version
