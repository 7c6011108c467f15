#!/usr/bin/env python3
"""A reverse proxy in front of a registry that answers every other request
503 (and every eighth 429 with Retry-After: 1) without forwarding it, for
the retry test of test/integration/registry_push.sh.

usage: flaky_proxy.py LISTEN_PORT UPSTREAM_PORT
GET /__stats (answered, never failed) -> {"injected": N, "forwarded": M}.
The Host header is passed through, so the registry's Location headers name
the proxy.
"""
import http.client
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LISTEN, UPSTREAM = int(sys.argv[1]), int(sys.argv[2])
state = {"n": 0, "injected": 0, "forwarded": 0}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def relay(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path == "/__stats":
            data = json.dumps({"injected": state["injected"], "forwarded": state["forwarded"]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        state["n"] += 1
        if state["n"] % 2 == 1:
            state["injected"] += 1
            throttle = state["n"] % 8 == 1
            data = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}' if throttle else b"busy"
            self.send_response(429 if throttle else 503)
            if throttle:
                self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            return
        state["forwarded"] += 1
        up = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "expect")}
        up.request(self.command, self.path, body=body, headers=headers)
        r = up.getresponse()
        data = r.read()
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(r.getheader("Content-Length", len(data))) if self.command == "HEAD"
                         else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        up.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = relay


ThreadingHTTPServer(("127.0.0.1", LISTEN), Proxy).serve_forever()
