#!/usr/bin/env bash
# Run cri-tools' critest (v1.36.0, from scripts/setup.sh) against rukt's CRI server and/or
# containerd 1.6 + runc from Debian, offline, and compare them spec by spec.
#
#   scripts/critest.sh [--runtime rukt|containerd|both] [--handler nspawn|kvm|fly]
#                      [--focus RE] [--skip RE] [--ci] [--parallel N] [--out DIR]
#                      [--rukt-bin PATH]
#
# Each runtime runs, with critest beside it, in the namespaces of scripts/cri-env.sh (a
# network namespace standing in for the host, private mount/IPC/PID namespaces; nothing
# touches this machine's interfaces or firewall), pulling the stand-in images of
# scripts/critest-images.sh through its mirrors. --handler goes to rukt only (critest's
# --runtime-handler); containerd has runc alone.
#
# Skipped always (-ginkgo.skip; docs/cri-conformance.md says why): SELinux, AppArmor, NRI,
# Image Volume, and the spec pulling the digest-pinned image ("with digest"). --ci focuses
# on a small conformance subset (runtime info, images, pod and container lifecycle, exec,
# idempotence): seconds for containerd, meant for the test suite.
#
# Output in DIR (default bench/out/critest): <runtime>.json (ginkgo's JSON report),
# <runtime>.log (critest's output), <runtime>-daemon.log, and compare.md / compare.tsv: a
# table per runtime (passed / failed / skipped / total) and every spec side by side.
# Exit status: 0 if every runtime that ran failed no spec, 1 otherwise, 2 on usage errors,
# 3 if rukt alone was asked for and `rukt cri` is not built.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=/opt/rukt-test/bin
always_skip='SELinux|AppArmor|NRI|Image Volume|with digest'
ci_focus='Runtime info|Image Manager|PodSandbox runtime should support basic operations|Container runtime should support basic operations on container runtime should support (creating|starting|stopping|removing|execSync)|Idempotence|Streaming'

# --run: critest itself, inside cri-env.sh (CRI_* from there, the rest from CRITEST_*).
if [ "${1:-}" = --run ]; then
    args=(-config "$CRI_DIR/crictl.yaml" --runtime-endpoint "$CRI_ENDPOINT" --image-endpoint "$CRI_ENDPOINT"
        "-ginkgo.skip=$CRITEST_SKIP" "-ginkgo.json-report=$CRITEST_OUT/$CRI_RUNTIME.json"
        -ginkgo.no-color -ginkgo.timeout=2h)
    [ -n "$CRITEST_FOCUS" ] && args+=("-ginkgo.focus=$CRITEST_FOCUS")
    # (-parallel=1 would reach go test as its own flag, which ginkgo refuses.)
    [ "$CRITEST_PARALLEL" -gt 1 ] && args+=("--parallel=$CRITEST_PARALLEL")
    [ "$CRI_RUNTIME" = rukt ] && [ -n "$CRI_HANDLER" ] && args+=(--runtime-handler "$CRI_HANDLER")
    cd "$CRI_DIR"
    exec env PATH="$bin_dir:$PATH" "$bin_dir/critest" "${args[@]}"
fi

usage() { sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
runtime=both handler= focus= skip= ci= parallel=1 out= rukt_bin=()
while [ $# -gt 0 ]; do
    case "$1" in
    --runtime) runtime=${2:?}; shift 2 ;;
    --handler) handler=${2:?}; shift 2 ;;
    --focus) focus=${2:?}; shift 2 ;;
    --skip) skip=${2:?}; shift 2 ;;
    --ci) ci=1; shift ;;
    --parallel) parallel=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --rukt-bin) rukt_bin=(--rukt-bin "${2:?}"); shift 2 ;;
    -h | --help) usage ;;
    *) echo "critest.sh: unknown argument $1" >&2; usage ;;
    esac
done
case "$runtime" in rukt | containerd) runtimes=("$runtime") ;; both) runtimes=(containerd rukt) ;; *) usage ;; esac
case "$handler" in "" | nspawn | kvm | fly) ;; *) echo "critest.sh: --handler is nspawn, kvm or fly" >&2; exit 2 ;; esac
[[ "$parallel" =~ ^[1-9][0-9]*$ ]] || { echo "critest.sh: --parallel takes a count" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "critest.sh: needs root (namespaces, mounts, the runtimes)" >&2; exit 1; }
for t in "$bin_dir/critest" "$bin_dir/ginkgo"; do
    [ -x "$t" ] || { echo "critest.sh: $t is missing; run scripts/setup.sh test" >&2; exit 1; }
done
out=$(realpath -m "${out:-$here/bench/out/critest}")
mkdir -p "$out"
export CRITEST_OUT=$out CRITEST_PARALLEL=$parallel
export CRITEST_SKIP=$always_skip${skip:+|$skip}
export CRITEST_FOCUS=$focus
[ -n "$ci" ] && CRITEST_FOCUS=${focus:+$focus|}$ci_focus

for rt in "${runtimes[@]}"; do
    rm -f "$out/$rt.json" "$out/$rt.log" "$out/$rt-daemon.log"
    if ! "$here/scripts/cri-env.sh" "$rt" --check "${rukt_bin[@]}" >/dev/null 2>"$out/$rt.log"; then
        echo "critest.sh: $(cat "$out/$rt.log")" >&2
        [ "${#runtimes[@]}" = 1 ] && exit 3
        continue
    fi
    echo "==> critest against $rt${CRITEST_FOCUS:+ (focus: $CRITEST_FOCUS)}" >&2
    start=$(date +%s)
    status=0
    "$here/scripts/cri-env.sh" "$rt" ${handler:+--handler "$handler"} "${rukt_bin[@]}" --log "$out" -- \
        "$here/scripts/critest.sh" --run >"$out/$rt.log" 2>&1 || status=$?
    echo "    $rt: critest exited $status after $(($(date +%s) - start)) s (log: $out/$rt.log)" >&2
    [ "$status" = 4 ] && tail -5 "$out/$rt.log" >&2
done
python3 "$here/scripts/critest-report.py" --out "$out" "${runtimes[@]}"
