#!/usr/bin/env bash
# Benchmark: fetch + unpack a multi-layer image (>= 200 MB) from a loopback
# registry. Side by side, in one run:
#   rukt fetch                      (fresh store each run)
#   skopeo copy + umoci unpack      (fresh layout and bundle each run)
#   podman pull                     (image removed before each run; if podman works here)
#   floor: read the compressed blobs and decompress them (zcat, pigz -dc: the faster)
#   rukt through the tests' fault proxy (tests/proxy/faulty.py), clean and
#   dropping each layer's connection once halfway (restarted before each run)
# Prints medians and the ratios the images issue targets:
#   rukt >= 2x faster than skopeo+umoci; rukt within 1.5x of the floor;
#   dropped-halfway within 1.3x of clean through the proxy (resumed, not restarted).
# Then the signed-image row, bench/fetch-signed.sh (image trust).
# Not a test: it never fails on a time.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$here/bench/out/fetch}
runs=${BENCH_RUNS:-5}
"$here/scripts/setup.sh" bench >/dev/null
(cd "$here" && cargo build --release -q -p rukt)
rukt="$here/target/release/rukt"

mkdir -p "$work"
rm -rf "$work/reg" "$work/store" "$work/oci" "$work/bundle"
proxy_pid="$work/proxy.pid"
stop_proxy() { if [ -f "$proxy_pid" ]; then kill "$(cat "$proxy_pid")" 2>/dev/null || true; rm -f "$proxy_pid"; fi; }
trap 'stop_proxy; "$here/scripts/registry.sh" stop "$work/reg"; rm -rf "$work/trash"' EXIT
if [ ! -f "$work/layout/index.json" ]; then
    echo "building the benchmark image from host directories (once; kept in $work/layout)..." >&2
    rm -rf "$work/layout"
    python3 "$here/scripts/mkimage.py" "$work/layout" bench \
        /:usr/bin /:usr/lib/gcc /:usr/libexec /:usr/lib/python3.11 /:usr/share/locale >/dev/null
fi
compressed=$(du -cb "$work"/layout/blobs/sha256/* | tail -1 | cut -f1)
host=$("$here/scripts/registry.sh" start "$work/reg")
skopeo copy -q --dest-tls-verify=false "oci:$work/layout:bench" "docker://$host/bench:1"
ref="docker://$host/bench:1"
layers=$(python3 - "$work/layout" <<'PY'
import json, sys
idx = json.load(open(sys.argv[1] + "/index.json"))
d = idx["manifests"][0]["digest"].split(":")[1]
m = json.load(open(f"{sys.argv[1]}/blobs/sha256/{d}"))
print(" ".join(sys.argv[1] + "/blobs/sha256/" + l["digest"].split(":")[1] for l in m["layers"]))
PY
)
echo "image: $(echo $layers | wc -w) layers, $((compressed / 1000000)) MB compressed" >&2

# Old trees are moved aside, not deleted, between runs: creating thousands of
# files right after deleting thousands makes ext4 skip the recently freed
# inodes one by one, which would dominate every contender's time. The trash
# is deleted at the end.
trash="$work/trash"
mkdir -p "$trash"
aside() { echo "for d in $*; do if [ -e \$d ]; then mv \$d \$(mktemp -d -p $trash)/; fi; done"; }
proxy_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# A fresh proxy per run: its faults happen once per blob and process.
proxy() {
    echo "if [ -f $proxy_pid ]; then kill \$(cat $proxy_pid) 2>/dev/null; sleep 0.2; fi; \
python3 $here/tests/proxy/faulty.py ${host##*:} $1 0 $work/proxy-stats.json $proxy_port >/dev/null 2>&1 & echo \$! >$proxy_pid; \
for i in \$(seq 100); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $proxy_port))' 2>/dev/null && break; sleep 0.05; done"
}
pref="docker://127.0.0.1:$proxy_port/bench:1"
cmds=(
    -n rukt-proxy --prepare "$(aside "$work/store"); $(proxy none)" "$rukt --dir $work/store --insecure-options=http fetch -q $pref"
    -n rukt-proxy-drop-half --prepare "$(aside "$work/store"); $(proxy drophalf)" "$rukt --dir $work/store --insecure-options=http fetch -q $pref"
    -n rukt --prepare "$(aside "$work/store")" "$rukt --dir $work/store --insecure-options=http fetch -q $ref"
    -n skopeo+umoci --prepare "$(aside "$work/oci" "$work/bundle")"
        "skopeo copy -q --src-tls-verify=false $ref oci:$work/oci:1 && umoci unpack --image $work/oci:1 $work/bundle >/dev/null"
    -n floor-zcat --prepare true "cat $layers | zcat >/dev/null"
    -n floor-pigz --prepare true "cat $layers | pigz -dc >/dev/null"
)
if command -v podman >/dev/null && podman pull -q --tls-verify=false "${ref#docker://}" >/dev/null 2>&1; then
    cmds+=(-n podman --prepare "podman rmi -af >/dev/null 2>&1 || true" "podman pull -q --tls-verify=false ${ref#docker://} >/dev/null")
else
    echo "podman pull does not work here; leaving it out" >&2
fi
hyperfine --style basic --runs "$runs" --warmup 1 --export-json "$work/result.json" "${cmds[@]}" >&2

python3 - "$work/result.json" <<'PY'
import json, sys
res = {r["command"]: r["median"] for r in json.load(open(sys.argv[1]))["results"]}
rukt = res["rukt"]
floor = min(res["floor-zcat"], res["floor-pigz"])
print(f"{'command':<14} {'median s':>9}")
for k, v in res.items():
    print(f"{k:<14} {v:9.3f}")
print(f"skopeo+umoci / rukt = {res['skopeo+umoci'] / rukt:.2f}x   (target >= 2.0x)")
print(f"rukt / floor        = {rukt / floor:.2f}x   (target <= 1.5x)")
print(f"dropped halfway / clean, through the proxy = {res['rukt-proxy-drop-half'] / res['rukt-proxy']:.2f}x   (target <= 1.3x)")
if "podman" in res:
    print(f"podman / rukt       = {res['podman'] / rukt:.2f}x")
PY

# The signed-image row (image trust): signedBy vs insecureAcceptAnything vs skopeo.
"$here/bench/fetch-signed.sh"
