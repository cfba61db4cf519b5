#!/usr/bin/env bash
# Benchmark: the CRI streaming server, side by side with kubelet's own library.
#   rukt   rukt-streaming (streaming/examples/hostserver.rs, release build)
#   kubelet k8s.io/cri-streaming v0.36.3, the server CRI-O and containerd embed
#           (bench/streaming-peer), over the same host backend
# Both are driven by the same client, rukt-streamclient (client-go's SPDY executor).
# Two figures, in alternating rounds:
#   throughput  an exec writing BENCH_MIB (512) MiB to stdout, received in full
#               (BENCH_ROUNDS, 5; medians, MiB/s)
#   session     an exec of `true`, from the client's start to its exit (BENCH_SESSIONS,
#               40; median ms, the client's own start included on both sides)
# rukt's WebSocket figures (v5.channel.k8s.io) are printed beside them; the peer serves
# no v5. Not a test.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(realpath -m "${BENCH_DIR:-$here/bench/out/streaming}")
mib=${BENCH_MIB:-512}
rounds=${BENCH_ROUNDS:-5}
sessions=${BENCH_SESSIONS:-40}
client=/opt/rukt-test/bin/rukt-streamclient
"$here/scripts/setup-streamclient.sh"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
mkdir -p "$work"
(cd "$here" && cargo build --release -q -p rukt-streaming --example hostserver)
rukt_server=$(realpath -m "${CARGO_TARGET_DIR:-$here/target}")/release/examples/hostserver
(cd "$here/bench/streaming-peer" && GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -o "$work/rukt-streampeer" .)

# Each server reads shell commands on a fifo and answers one URL per line on another.
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
start() { # NAME BINARY: fds 3+2i (requests) and 4+2i (URLs)
    rm -f "$work/$1.in" "$work/$1.out"
    mkfifo "$work/$1.in" "$work/$1.out"
    "$2" <"$work/$1.in" >"$work/$1.out" &
    pids+=($!)
}
start rukt "$rukt_server"
start kubelet "$work/rukt-streampeer"
exec 3>"$work/rukt.in" 4<"$work/rukt.out" 5>"$work/kubelet.in" 6<"$work/kubelet.out"
url() { # SERVER COMMAND
    case "$1" in
    rukt) echo "$2" >&3; read -r u <&4 ;;
    kubelet) echo "$2" >&5; read -r u <&6 ;;
    esac
    echo "$u"
}
ms() { echo $(( $(date +%s%N) / 1000000 )); }
# One run: SERVER TRANSPORT COMMAND; prints the milliseconds it took and checks the size.
run() {
    local u t0 t1 bytes
    u=$(url "$1" "$3")
    t0=$(ms)
    bytes=$("$client" exec -url "$u" -transport "$2" | wc -c)
    t1=$(ms)
    echo $((t1 - t0)) "$bytes"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

big="head -c $((mib << 20)) /dev/zero"
declare -A tp=() ss=()
for _ in $(seq "$rounds"); do
    for who in "rukt spdy" "kubelet spdy" "rukt websocket"; do
        read -r t bytes < <(run ${who} "$big")
        [ "$bytes" = $((mib << 20)) ] || { echo "streaming.sh: $who received $bytes bytes" >&2; exit 1; }
        tp[$who]+="$t "
    done
done
for _ in $(seq "$sessions"); do
    for who in "rukt spdy" "kubelet spdy" "rukt websocket"; do
        read -r t _ < <(run ${who} true)
        ss[$who]+="$t "
    done
done
echo "CRI streaming: $mib MiB exec output (medians of $rounds), exec of true (medians of $sessions)"
printf '%-16s %10s %10s %12s\n' server "ms/$mib MiB" MiB/s "session ms"
declare -A med_t med_s
for who in "rukt spdy" "kubelet spdy" "rukt websocket"; do
    med_t[$who]=$(tr ' ' '\n' <<<"${tp[$who]}" | grep . | median)
    med_s[$who]=$(tr ' ' '\n' <<<"${ss[$who]}" | grep . | median)
    printf '%-16s %10s %10.0f %12s\n' "$who" "${med_t[$who]}" "$(echo "$mib * 1000 / ${med_t[$who]}" | bc -l)" "${med_s[$who]}"
done
printf 'throughput rukt/kubelet (SPDY): %.2fx; session time rukt/kubelet: %.2fx\n' \
    "$(echo "${med_t[kubelet spdy]} / ${med_t[rukt spdy]}" | bc -l)" \
    "$(echo "${med_s[rukt spdy]} / ${med_s[kubelet spdy]}" | bc -l)"
