#!/usr/bin/env bash
# The README's second command: install what the tests need, then run the
# whole suite (unit tests, then the functional tests against real parts:
# a loopback docker-registry, skopeo, umoci). Must run as root.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
"$here/scripts/setup.sh" test
[ "$(id -u)" = 0 ] || { echo "test.sh: the functional tests need root (whiteouts, ownership)" >&2; exit 1; }
cargo fmt --all -- --check
# The layering rule (stage1 engines depend only on contract and sys, ...),
# on cargo's own dependency graph; a wrong dependency fails the run here.
scripts/check-layering.py --self-test
scripts/check-layering.py
cargo clippy --workspace --all-targets -q -- -D warnings
cargo build --workspace -q
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace -q 2>&1 | tee "$log" || status=$?
# One closing line over every test binary (cargo's last line is a doctest run).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "total: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
