#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for rukt's tests, in front of a real registry.

    faulty.py UPSTREAM_PORT MODE N STATS_FILE [PORT]

Listens on 127.0.0.1:PORT (a free port if not given), prints the port, and forwards every
request to 127.0.0.1:UPSTREAM_PORT. Blob GETs larger than N bytes get the
fault of MODE, once per blob (the first request for it):

  none      no fault (forwarding only)
  drop      close the connection after N bytes of the body
  drophalf  close the connection halfway through the body (N is ignored)
  stall     send N bytes, then nothing (the connection stays open)
  503       answer 503 (Retry-After absent), then behave
  429       answer 429 with Retry-After: 1, then behave
  norange   drop after N bytes, and answer later Range requests 200 in full
  corrupt   drop after N bytes, and serve the resumed part with its first byte flipped
  stallalways  stall after N bytes on every request for the blob

After each request it rewrites STATS_FILE as JSON: per blob digest, the
requests seen (with their Range header and status) and the body bytes sent.
"""

import http.client
import http.server
import json
import os
import sys
import threading
import time

UPSTREAM, MODE, N, STATS = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
LOCK = threading.Lock()
STATE = {}  # digest -> {"requests": [...], "bytes": int}


def save():
    with open(STATS + ".tmp", "w") as f:
        json.dump(STATE, f)
    os.replace(STATS + ".tmp", STATS)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        digest = self.path.rsplit("/blobs/", 1)[1] if "/blobs/" in self.path else None
        rng = self.headers.get("Range")
        with LOCK:
            first = False
            if digest is not None:
                first = digest not in STATE
                st = STATE.setdefault(digest, {"requests": [], "bytes": 0})
                st["requests"].append({"range": rng})
        if digest is not None and first and MODE in ("503", "429"):
            self.send_response(int(MODE))
            if MODE == "429":
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.record(digest, 0, int(MODE))
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        if MODE == "norange":
            headers = {k: v for k, v in headers.items() if k.lower() != "range"}
        up = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=30)
        up.request("GET", self.path, headers=headers)
        resp = up.getresponse()
        body = resp.read()
        up.close()
        length = len(body)
        at = length // 2 if MODE == "drophalf" else N
        fault = MODE != "none" and digest is not None and resp.status in (200, 206) and (
            length > at) and (first or MODE == "stallalways")
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if MODE == "corrupt" and digest is not None and resp.status == 206:
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        if fault and MODE != "503" and MODE != "429":
            self.wfile.write(body[:at])
            self.wfile.flush()
            self.record(digest, at, resp.status)
            if MODE in ("stall", "stallalways"):
                time.sleep(60)
            self.close_connection = True
            return
        self.wfile.write(body)
        self.record(digest, length, resp.status)

    def record(self, digest, sent, status):
        if digest is None:
            return
        with LOCK:
            st = STATE[digest]
            st["bytes"] += sent
            st["requests"][-1]["status"] = status
            save()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", int(sys.argv[5]) if len(sys.argv) > 5 else 0), Handler)
with LOCK:
    save()
print(server.server_address[1], flush=True)
server.serve_forever()
