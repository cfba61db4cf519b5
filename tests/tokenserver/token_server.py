#!/usr/bin/python3
"""A docker token-auth server for rukt's registry tests (Python stdlib only).

Issues ES256 JWTs with an x5c header, signed with the openssl CLI, as
docker-registry (distribution 2.8, auth.token) verifies them. Users come from
a JSON file: {"users": {NAME: {"password": P, "mode": M}}, "refresh": {TOKEN: NAME}}
where M is good (the scope asked for), expired (exp in the past), noscope (no
access at all) or hang (never answers). GET /token takes basic auth (anonymous
is refused); POST /token takes grant_type=refresh_token. Every request is
logged, one JSON line each, to --log (never a password). Listens on 127.0.0.1
(TLS with --cert/--key) and writes its port to --port-file.
"""

import argparse
import os
import base64
import json
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_to_raw(sig):
    """An ECDSA DER signature (SEQUENCE of two INTEGERs) as JWT's r||s."""
    assert sig[0] == 0x30
    i = 2 if sig[1] < 0x80 else 2 + (sig[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert sig[i] == 0x02
        n = sig[i + 1]
        value = sig[i + 2 : i + 2 + n].lstrip(b"\x00")
        out += value.rjust(32, b"\x00")
        i += 2 + n
    return out


class Signer:
    def __init__(self, key, cert, issuer):
        self.key = key
        with open(cert) as f:
            self.x5c = base64.b64encode(ssl.PEM_cert_to_DER_cert(f.read())).decode()
        self.issuer = issuer

    def token(self, service, sub, access, lifetime):
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]}
        claims = {
            "iss": self.issuer,
            "sub": sub,
            "aud": service,
            "exp": now + lifetime,
            "nbf": min(now, now + lifetime) - 10,
            "iat": min(now, now + lifetime) - 10,
            "jti": "%s-%f" % (sub, time.time()),
            "access": access,
        }
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        der = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", self.key],
            input=signing_input.encode(),
            capture_output=True,
            check=True,
        ).stdout
        return signing_input + "." + b64url(der_to_raw(der))


def access_for(scope, mode):
    if mode == "noscope" or not scope:
        return []
    out = []
    for s in scope.split(" "):
        parts = s.split(":")
        if len(parts) >= 3:
            out.append({"type": parts[0], "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")})
    return out


def make_handler(config, signer, log):
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def record(self, **entry):
            with lock:
                log.write(json.dumps(entry) + "\n")
                log.flush()

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def issue(self, user, query, key):
            mode = config["users"][user].get("mode", "good")
            service = query.get("service", [""])[0]
            scope = " ".join(query.get("scope", []))
            if mode == "hang":
                time.sleep(3600)
            lifetime = -3600 if mode == "expired" else 300
            token = signer.token(service, user, access_for(scope, mode), lifetime)
            self.answer(200, {key: token, "expires_in": 300})

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            auth = self.headers.get("Authorization", "")
            user = password = None
            if auth.startswith("Basic "):
                raw = base64.b64decode(auth[6:]).decode()
                user, _, password = raw.partition(":")
            self.record(method="GET", path=url.path, user=user, scope=query.get("scope", []))
            if user is None:
                return self.answer(401, {"details": "anonymous access is not allowed"})
            known = config["users"].get(user)
            if known is None or known["password"] != password:
                return self.answer(401, {"details": "invalid username or password"})
            self.issue(user, query, "token")

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            refresh = form.get("refresh_token", [""])[0]
            user = config.get("refresh", {}).get(refresh)
            self.record(method="POST", path=self.path, user=user, grant=form.get("grant_type", [""])[0])
            if form.get("grant_type", [""])[0] != "refresh_token" or user is None:
                return self.answer(401, {"error": "invalid_grant"})
            self.issue(user, form, "access_token")

    return Handler


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--users", required=True)
    p.add_argument("--sign-key", required=True)
    p.add_argument("--sign-cert", required=True)
    p.add_argument("--issuer", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--log", required=True)
    p.add_argument("--port-file", required=True)
    a = p.parse_args()
    with open(a.users) as f:
        config = json.load(f)
    log = open(a.log, "a")
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(config, Signer(a.sign_key, a.sign_cert, a.issuer), log))
    server.daemon_threads = True
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(a.port_file + ".tmp", a.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
