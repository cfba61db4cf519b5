#!/usr/bin/env bash
# Start or stop a throwaway docker-registry (Debian's distribution 2.8) on a
# free loopback port. Used by the demo and the benchmarks.
#   registry.sh start DIR   -> prints 127.0.0.1:PORT; state kept in DIR
#   registry.sh stop DIR
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?state directory}
case "$cmd" in
start)
    mkdir -p "$dir/data"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
YAML
    docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 100); do
        if python3 - "$port" <<'PY' 2>/dev/null; then break; fi
import sys, urllib.request
urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=1)
PY
        sleep 0.1
    done
    echo "127.0.0.1:$port"
    ;;
stop)
    if [ -f "$dir/pid" ]; then kill "$(cat "$dir/pid")" 2>/dev/null || true; rm -f "$dir/pid"; fi
    ;;
*) echo "usage: registry.sh start|stop DIR" >&2; exit 2 ;;
esac
