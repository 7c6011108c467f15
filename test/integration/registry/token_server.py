#!/usr/bin/env python3
"""A token server for docker-registry's auth.token, shaped like Azure Container
Registry's /oauth2/token, for test/integration/registry_push.sh.

usage: token_server.py PORT KEY_PEM CERT_PEM USERNAME PASSWORD REFRESH_TOKEN LOG
  POST /oauth2/token  grant_type=refresh_token (refresh_token=REFRESH_TOKEN) or
                      grant_type=password (username, password) -> {"access_token"}
  GET  /oauth2/token  with Basic USERNAME:PASSWORD (docker token spec) -> {"token"}
  GET  /stats         -> {"issued": N}
Tokens are RS256 JWTs with the certificate in x5c (the registry's rootcertbundle
holds it), granting every scope asked for, valid 300 s.  Wrong credentials:
401 {"errors": [{"code": "UNAUTHORIZED", ...}]}.  The log has one line per
request: method, path and the grant; never a body or a header value.
"""
import base64
import json
import secrets
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

PORT, KEY, CERT, USER, PASSWORD, REFRESH, LOG = sys.argv[1:8]
key = serialization.load_pem_private_key(open(KEY, "rb").read(), password=None)
cert = x509.load_pem_x509_certificate(open(CERT, "rb").read())
x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
issued = 0


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(service, scopes):
    access = []
    for s in scopes:
        parts = s.split(":")
        if len(parts) >= 3:
            access.append({"type": parts[0], "name": ":".join(parts[1:-1]), "actions": parts[-1].split(",")})
    now = int(time.time())
    header = {"typ": "JWT", "alg": "RS256", "x5c": [x5c]}
    claims = {"iss": "mf-test-issuer", "sub": "tester", "aud": service, "exp": now + 300, "nbf": now - 10,
              "iat": now, "jti": secrets.token_hex(8), "access": access}
    signing = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing + "." + b64url(sig)


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def note(self, what):
        with open(LOG, "a") as f:
            f.write("%s %s %s\n" % (self.command, urllib.parse.urlsplit(self.path).path, what))

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def grant(self, service, scopes, field):
        global issued
        issued += 1
        self.answer(200, {field: jwt(service, scopes), "expires_in": 300})

    def refuse(self):
        self.answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid credentials"}]})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/stats":
            return self.answer(200, {"issued": issued})
        q = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        want = "Basic " + base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
        self.note("basic" if auth else "anonymous")
        if url.path != "/oauth2/token" or not secrets.compare_digest(auth, want):
            return self.refuse()
        self.grant(q.get("service", [""])[0], q.get("scope", []), "token")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        g = form.get("grant_type", [""])[0]
        self.note("grant_type=" + g)
        one = lambda k: form.get(k, [""])[0]
        ok = (g == "refresh_token" and secrets.compare_digest(one("refresh_token"), REFRESH)) or \
             (g == "password" and one("username") == USER and secrets.compare_digest(one("password"), PASSWORD))
        if urllib.parse.urlsplit(self.path).path != "/oauth2/token" or not ok:
            return self.refuse()
        self.grant(one("service"), form.get("scope", []), "access_token")


ThreadingHTTPServer(("127.0.0.1", int(PORT)), Handler).serve_forever()
