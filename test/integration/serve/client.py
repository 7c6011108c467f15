"""HTTP client, server launcher and TAP reporter of the mf-serve tests.

Python standard library only (/usr/bin/python3 of Debian).  The client is
a small HTTP/1.1 client over sockets, so that a test controls every byte:
keep-alive connections, arbitrary bodies, a source address (a second
client on 127.0.0.2), half-sent requests.  Every call has a timeout, so a
hung server is a failed check, never a hung test.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import time

TIMEOUT = 10.0


class Response:
    """One HTTP answer: status, lower-cased headers, raw body."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        """The body parsed as strict JSON (NaN/Infinity refused), or None."""
        try:
            return json.loads(self.body.decode('utf-8'), parse_constant=_refuse_constant)
        except (ValueError, UnicodeDecodeError):
            return None

    def __repr__(self):
        return 'HTTP %d %r' % (self.status, self.body[:300])


def _refuse_constant(name):
    raise ValueError('non-JSON constant ' + name)


class Conn:
    """A keep-alive HTTP/1.1 connection that reconnects when closed."""

    def __init__(self, port, host='127.0.0.1', source=None, timeout=TIMEOUT):
        self.port, self.host, self.source, self.timeout = port, host, source, timeout
        self.sock = None
        self.buf = b''

    def _open(self):
        self.sock = socket.create_connection((self.host, self.port), timeout=self.timeout,
                                            source_address=(self.source, 0) if self.source else None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b''

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def request(self, method, path, body=None, headers=None):
        """Send one request and read its answer (one retry on a stale connection)."""
        for attempt in (0, 1):
            fresh = self.sock is None
            if fresh:
                self._open()
            try:
                self._send(method, path, body, headers)
            except (ConnectionResetError, BrokenPipeError):
                # The server may answer (413) and close before reading it all.
                try:
                    return self._read(method)
                except (OSError, EOFError, ValueError):
                    self.close()
                    if fresh or attempt:
                        raise
                    continue
            try:
                return self._read(method)
            except (ConnectionResetError, EOFError):
                self.close()
                if fresh or attempt:
                    raise
        raise EOFError('unreachable')

    def _send(self, method, path, body, headers):
        if isinstance(body, str):
            body = body.encode('utf-8')
        h = {'Host': '%s:%d' % (self.host, self.port)}
        if body is not None:
            h['Content-Type'] = 'application/json'
            h['Content-Length'] = str(len(body))
        h.update(headers or {})
        head = '%s %s HTTP/1.1\r\n' % (method, path)
        head += ''.join('%s: %s\r\n' % kv for kv in h.items() if kv[1] is not None) + '\r\n'
        self.sock.sendall(head.encode('latin-1') + (body or b''))

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError('connection closed by the server')
        self.buf += chunk

    def _line(self):
        while b'\r\n' not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _read(self, method):
        status_line = self._line().decode('latin-1')
        parts = status_line.split(' ', 2)
        if len(parts) < 2 or not parts[0].startswith('HTTP/1.'):
            raise ValueError('bad status line %r' % status_line)
        status = int(parts[1])
        headers = {}
        while True:
            line = self._line().decode('latin-1')
            if not line:
                break
            k, _, v = line.partition(':')
            k = k.strip().lower()
            headers[k] = (headers[k] + ', ' + v.strip()) if k in headers else v.strip()
        if method == 'HEAD' or status in (204, 304) or 100 <= status < 200:
            body = b''
        elif headers.get('transfer-encoding', '').lower() == 'chunked':
            body = b''
            while True:
                size = int(self._line().split(b';')[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._take(size)
                self._take(2)
        elif 'content-length' in headers:
            body = self._take(int(headers['content-length']))
        else:  # until close
            try:
                while True:
                    self._fill()
            except EOFError:
                pass
            body, self.buf = self.buf, b''
            self.close()
        if headers.get('connection', '').lower() == 'close' or parts[0] == 'HTTP/1.0':
            self.close()
        return Response(status, headers, body)


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    """An mf-serve process on a free port; stderr kept in a log file."""

    def __init__(self, binary, base, log_path, args=(), threads=2):
        self.binary, self.base, self.log_path = binary, base, log_path
        self.args, self.threads = list(args), threads
        self.proc, self.port = None, None

    def start(self, wait=15.0):
        for _ in range(5):
            self.port = free_port()
            cmd = [self.binary, '--model-base-path', self.base, '--host', '127.0.0.1',
                   '--port', str(self.port), '--threads', str(self.threads)] + self.args
            self.log = open(self.log_path, 'ab')
            self.log.write(('$ %s\n' % ' '.join(cmd)).encode())
            self.log.flush()
            self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
            if self.wait_live(wait):
                return self
            self.stop()
        raise RuntimeError('mf-serve did not start (log: %s):\n%s' % (self.log_path, self.log_tail()))

    def wait_live(self, wait):
        """True once the server answers liveness (within wait seconds)."""
        t0 = time.time()
        while time.time() - t0 < wait:
            if self.proc.poll() is not None:
                return False
            if self.alive(timeout=2):
                return True
            time.sleep(0.05)
        return False

    def alive(self, timeout=5):
        """True when the process runs and GET /v2/health/live answers 200."""
        if self.proc.poll() is not None:
            return False
        try:
            c = Conn(self.port, timeout=timeout)
            r = c.request('GET', '/v2/health/live')
            c.close()
            return r.status == 200
        except (OSError, EOFError, ValueError):
            return False

    def log_tail(self, n=20):
        try:
            with open(self.log_path, 'rb') as f:
                return b'\n'.join(f.read().splitlines()[-n:]).decode('utf-8', 'replace')
        except OSError:
            return ''

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, 'log', None):
            self.log.close()


class Tap:
    """ok / not ok lines and a count of failures."""

    def __init__(self):
        self.n_ok = 0
        self.failures = []

    def ok(self, cond, what, detail=''):
        if cond:
            self.n_ok += 1
            print('ok - ' + what, flush=True)
        else:
            self.failures.append(what)
            print('not ok - %s%s' % (what, (': ' + str(detail)[:600]) if detail != '' else ''), flush=True)
        return cond

    def note(self, msg):
        print('# ' + msg, flush=True)

    def done(self):
        print('# %d passed, %d failed' % (self.n_ok, len(self.failures)), flush=True)
        for f in self.failures:
            print('#   failed: ' + f, flush=True)
        return 1 if self.failures else 0


def is_error_object(resp):
    """True when a body is the protocols' error object {"error": "<text>"}."""
    body = resp.json()
    return (isinstance(body, dict) and isinstance(body.get('error'), str) and body['error'] != ''
            and resp.headers.get('content-type', '').startswith('application/json'))


def run_oip_validator(spec_yaml, npm, work, records, stem='oip'):
    """Validate OIP answers (records: {"id", "op", "method", "status", "body"})
    against the protocol's OpenAPI file with validate_oip.js (node +
    openapi-response-validator under npm/node_modules); returns the
    CompletedProcess (its stdout has one ok / not ok line per record)."""
    import yaml
    with open(spec_yaml) as f:
        spec = yaml.safe_load(f)
    spec_json = os.path.join(work, stem + '-spec.json')
    rec = os.path.join(work, stem + '-records.jsonl')
    with open(spec_json, 'w') as f:
        json.dump(spec, f)
    with open(rec, 'w') as f:
        for r in records:
            f.write(json.dumps(r) + '\n')
    js = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'validate_oip.js')
    return subprocess.run(['node', js, os.path.join(npm, 'node_modules'), spec_json, rec],
                          capture_output=True, text=True, timeout=60)


OIP_INFER = '/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}/infer'
OIP_META = '/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}'


class ServedCheck:
    """What the checkers of one served model share (text_check.py,
    embed_check.py): the arguments, the expected answers (--expect, JSON),
    POSTs, the OIP answers kept for the OpenAPI validator, liveness, and the
    malformed-body loop."""

    def __init__(self, args):
        self.args = args
        self.tap = Tap()
        self.conn = Conn(args.port)
        self.records = []
        with open(args.expect) as f:
            self.e = json.load(f)

    def post(self, path, body, raw=False):
        data = body if raw else json.dumps(body).encode()
        return self.conn.request('POST', path, data, {'Content-Type': 'application/json'})

    def record(self, rid, op, method, resp):
        self.records.append({'id': rid, 'op': op, 'method': method, 'status': resp.status,
                             'body': resp.json() if resp.body else None})

    def alive(self, what):
        c = Conn(self.args.port)
        try:
            r = c.request('GET', '/v2/health/live')
            ok = r.status == 200
        except (OSError, EOFError, ValueError) as e:
            ok, r = False, e
        c.close()
        self.tap.ok(ok, 'server alive after ' + what, r)

    def refused(self, cases, infer, statuses=range(400, 500)):
        """Each (what, path, body or bytes) answered a status of statuses with the error object, the server alive after."""
        for what, path, body in cases:
            r = self.post(path, body, raw=isinstance(body, bytes))
            if path == infer:
                self.record(what, OIP_INFER, 'post', r)
            self.tap.ok(r.status in statuses and is_error_object(r), '%s: %d with the error object' % (what, r.status), r)
            self.alive(what)

    def validate(self, stem, what):
        p = run_oip_validator(self.args.spec, self.args.npm, self.args.work, self.records, stem)
        bad = [line for line in p.stdout.splitlines() if line.startswith('not ok')]
        self.tap.ok(p.returncode == 0 and not bad and self.records,
                    '%d OIP answers (%s) valid against open_inference_rest.yaml' % (len(self.records), what),
                    (bad[:3], p.stderr[-300:]))


def check_args(extra=()):
    """The command line of a ServedCheck (extra: more store_true flags)."""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--expect', required=True)
    ap.add_argument('--model', required=True)
    ap.add_argument('--work', required=True)
    ap.add_argument('--npm')
    ap.add_argument('--spec')
    for flag in extra:
        ap.add_argument(flag, action='store_true')
    return ap.parse_args()


def log(msg):
    sys.stderr.write(msg + '\n')
    sys.stderr.flush()


if __name__ == '__main__':
    print('a module of the mf-serve tests', file=sys.stderr)
    sys.exit(os.EX_USAGE)
