#!/usr/bin/env python3
"""A webhook receiver for test/integration/alerts_webhook.sh (not a test itself).

Listens on 127.0.0.1 (port 0: the kernel picks; the port is written to the
file given as argv[1]).  POST /hook: the first request is answered 500, every
later one 200; each request is appended to argv[2] as one JSON line
{"n": <1-based>, "answered": <status>, "body": <the body parsed as JSON, or
the text when it is not JSON>}.  GET /health answers 200 "ok".
"""
import http.server
import json
import os
import sys
import threading

PORT_FILE, LOG_FILE = sys.argv[1], sys.argv[2]
lock = threading.Lock()
count = 0


class Handler(http.server.BaseHTTPRequestHandler):
    """POST /hook logs and answers; GET /health says it lives."""

    def do_POST(self):
        global count
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length).decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        with lock:
            count += 1
            n = count
            status = 500 if n == 1 else 200
            with open(LOG_FILE, "a", encoding="utf-8") as f:
                f.write(json.dumps({"n": n, "answered": status, "path": self.path,
                                    "content_type": self.headers.get("Content-Type"), "body": body}) + "\n")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"first answer is an error\n" if status == 500 else b"ok\n")

    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w", encoding="utf-8") as f:
    f.write(str(server.server_address[1]))
# renamed last: the port file appears complete
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
