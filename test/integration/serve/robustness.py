"""Robustness checks of mf-serve (called by conformance.py).

  - malformed: > 1,000 seeded malformed bodies (malformed.py) over TF
    :predict/:classify/:regress, OIP infer, /predict and /batch_predict:
    each 4xx with {"error": "..."}, never 5xx; GET /v2/health/live -> 200
    every 100 bodies and at the end.  Slow clients run meanwhile.
  - slow clients: a body sent one byte every 0.25 s, headers never
    finished: the server must cut them within its timeout (+ margin) while
    answering everyone else at once.
  - disconnects mid-request (headers, body, before reading the answer).
  - the connection limit: beyond it 503, then normal service.
  - auth (--bearer-token-file): 401 + WWW-Authenticate: Bearer.
  - rate limit (--requests-per-minute): 429 + Retry-After, per client.
  - GET /metrics: `promtool check metrics`, counters that count.
"""
import json
import os
import re
import socket
import subprocess
import threading
import time

from client import Conn, is_error_object
from malformed import Gen

TIMEOUT = 4  # --timeout of the servers under test (seconds)
SLOW_LIMIT = TIMEOUT + 8.0  # seconds a slow client may hold a connection


# ------------------------------------------------------------------ malformed bodies

ENDPOINTS = [  # kind, server (main / one), path
    ('tf_predict', 'main', '/v1/models/sc_cls:predict'),
    ('tf_classify', 'main', '/v1/models/sc_cls:classify'),
    ('tf_regress', 'main', '/v1/models/sc_reg:regress'),
    ('oip_infer', 'main', '/v2/models/sc_cls/infer'),
    ('oip_infer', 'one', '/v2/models/sc_cls/versions/1.0.0/infer'),
    ('predict', 'one', '/predict'),
    ('batch_predict', 'one', '/batch_predict'),
]
PER_ENDPOINT = 180  # 7 x 180 = 1,260 bodies


def malformed(ctx, srv_main, srv_one):
    tap = ctx.tap
    gen = Gen(ctx.rows, ctx.columns, seed=int(os.environ.get('MF_SERVE_TEST_SEED', '20261205')))
    servers = {'main': srv_main, 'one': srv_one}
    conns = {k: Conn(s.port) for k, s in servers.items()}
    total, bad, by_mut = 0, [], {}
    alive_checks = 0
    t0 = time.time()
    for kind, where, path in ENDPOINTS:
        for mut, body in gen.bodies(kind, PER_ENDPOINT):
            total += 1
            try:
                r = conns[where].request('POST', path, body)
                good = 400 <= r.status < 500 and is_error_object(r)
                detail = r
            except (OSError, EOFError, ValueError) as e:
                conns[where].close()
                good, detail = False, 'no answer: %r' % e
            by_mut.setdefault(mut, [0, 0])[0 if good else 1] += 1
            if not good:
                bad.append('%s %s [%s] body %r -> %s' % (kind, path, mut, body[:120], detail))
            if kind == 'oip_infer' and total % 9 == 0 and not isinstance(detail, str):
                ctx.record('malformed %s #%d' % (mut, total), '/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}/infer',
                           'post', r)
            if total % 100 == 0:
                alive_checks += 1
                if not (srv_main.alive() and srv_one.alive()):
                    tap.ok(False, 'server alive after %d malformed bodies' % total,
                           srv_main.log_tail() + srv_one.log_tail())
                    return
    for c in conns.values():
        c.close()
    for line in bad[:25]:
        tap.note('refused wrongly: ' + line)
    tap.note('malformed bodies per mutation (right, wrong): ' +
             ', '.join('%s %d/%d' % (m, v[0], v[1]) for m, v in sorted(by_mut.items())))
    tap.ok(total >= 1000 and not bad,
           '%d malformed bodies over %d endpoints each answered 4xx {"error": ...} (%.1f s)'
           % (total, len(ENDPOINTS), time.time() - t0), '%d were not' % len(bad))
    tap.ok(srv_main.alive() and srv_one.alive(),
           'servers alive after the malformed bodies (%d liveness checks on the way)' % alive_checks)


# ------------------------------------------------------------------ slow clients

class SlowClient(threading.Thread):
    """Sends a request slowly; records how long the server kept it."""

    def __init__(self, port, mode):
        super().__init__(daemon=True)
        self.port, self.mode = port, mode
        self.held, self.outcome = None, None

    def run(self):
        s = socket.create_connection(('127.0.0.1', self.port), timeout=SLOW_LIMIT + 15)
        t0 = time.time()
        try:
            if self.mode == 'body':
                body = b'{"instances": [' + b'1,' * 200 + b'1]}'
                s.sendall(b'POST /v1/models/sc_cls:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
                          b'Content-Length: %d\r\n\r\n' % len(body))
                for i in range(len(body)):
                    s.sendall(body[i:i + 1])
                    time.sleep(0.25)
                    if time.time() - t0 > SLOW_LIMIT + 10:
                        break
                self.outcome = 'sent everything (%d bytes over %.0f s) without being cut' % (len(body), time.time() - t0)
            else:  # headers never finished, one byte a second
                s.sendall(b'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n')
                while time.time() - t0 < SLOW_LIMIT + 10:
                    s.settimeout(1.0)
                    try:
                        data = s.recv(4096)
                        if data == b'' or data.startswith(b'HTTP/1.1 408'):
                            raise ConnectionResetError('closed')
                        self.outcome = 'answered before the request was complete: %r' % data[:60]
                        break
                    except socket.timeout:
                        s.sendall(b'X')
                if self.outcome is None:
                    self.outcome = 'never closed'
        except (BrokenPipeError, ConnectionResetError):
            self.outcome = 'cut'
        finally:
            if self.outcome in (None, 'cut') or self.outcome.startswith('sent'):
                # a 408 answer also counts as cut; read what is there
                try:
                    s.settimeout(2.0)
                    data = s.recv(4096)
                    if data.startswith(b'HTTP/1.1 408'):
                        self.outcome = 'cut'
                    elif data == b'' and self.outcome is None:
                        self.outcome = 'cut'
                except OSError:
                    if self.outcome is None:
                        self.outcome = 'cut'
            self.held = time.time() - t0
            s.close()


def slow_start(srv):
    threads = [SlowClient(srv.port, 'body'), SlowClient(srv.port, 'headers')]
    for t in threads:
        t.start()
    return threads


def slow_finish(ctx, threads, served, served_max):
    for t in threads:
        t.join(SLOW_LIMIT + 30)
    for t in threads:
        ctx.tap.ok(t.outcome == 'cut' and t.held is not None and t.held <= SLOW_LIMIT,
                   'slow client (%s one byte at a time) cut by the server within %.0f s' % (t.mode, SLOW_LIMIT),
                   'outcome %s after %.1f s' % (t.outcome, t.held or -1))
    ctx.tap.ok(served > 0 and served_max < 1.0,
               'others served while slow clients held connections (%d requests, slowest %.3f s)' % (served, served_max))


# ------------------------------------------------------------------ disconnects

def disconnects(ctx, srv):
    tap = ctx.tap
    body = json.dumps({'instances': ctx.rows}).encode()
    head = (b'POST /v1/models/sc_cls:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
            b'Content-Length: %d\r\n\r\n' % len(body))
    n = 0
    for i in range(60):
        s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
        part = i % 3
        if part == 0:
            s.sendall(head[:len(head) // 2])          # half the headers
        elif part == 1:
            s.sendall(head + body[:len(body) // 2])   # half the body
        else:
            s.sendall(head + body)                    # all, but leave before the answer
        if i % 2:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')  # RST
        s.close()
        n += 1
    time.sleep(0.3)
    c = Conn(srv.port)
    r = c.request('POST', '/v1/models/sc_cls:predict', body)
    c.close()
    pred = (r.json() or {}).get('predictions') if r.status == 200 else None
    tap.ok(srv.alive() and pred is not None and len(pred) == len(ctx.rows),
           '%d clients gone mid-request (headers, body, before the answer; FIN and RST): server serves on' % n, r)


# ------------------------------------------------------------------ connection limit

def connection_limit(ctx, srv, limit):
    """Fill the server's connections, then one more: 503; close all: 200."""
    tap = ctx.tap
    held = []
    try:
        for _ in range(limit):
            s = socket.create_connection(('127.0.0.1', srv.port), timeout=5)
            s.sendall(b'GET /v2/health/live HTTP/1.1\r\nHost: x\r\n')  # unfinished: holds the slot
            held.append(s)
        time.sleep(0.3)
        answers = []
        for _ in range(5):
            try:
                c = Conn(srv.port, timeout=5)
                answers.append(c.request('GET', '/v2/health/live'))
                c.close()
            except (OSError, EOFError, ValueError) as e:
                answers.append('no answer: %r' % e)
        tap.ok(all(not isinstance(a, str) and a.status == 503 and is_error_object(a) for a in answers),
               'connections beyond the limit (%d held) answered 503 {"error": ...}' % limit, answers[:2])
    finally:
        for s in held:
            s.close()
    time.sleep(0.5)
    ok = 0
    for _ in range(20):
        try:
            c = Conn(srv.port, timeout=5)
            ok += c.request('GET', '/v2/health/ready').status == 200
            c.close()
        except (OSError, EOFError, ValueError):
            pass
    tap.ok(ok == 20, 'normal service after the excess connections closed (%d/20)' % ok)


# ------------------------------------------------------------------ auth and rate limits

def auth(ctx, srv, token):
    tap = ctx.tap
    c = Conn(srv.port)
    body = json.dumps({'instances': ctx.rows[:2]})
    for hdr, what in ((None, 'no token'), ('Bearer wrong-' + token, 'a wrong token'),
                      ('Bearer ' + token[:-1], 'a prefix of the token'), ('Basic ' + token, 'the token as Basic'),
                      ('Bearer', 'an empty Bearer')):
        for method, path, b in (('POST', '/v1/models/sc_cls:predict', body), ('GET', '/v2/models/sc_cls', None),
                                ('POST', '/v2/models/sc_reg/infer', json.dumps({'inputs': []}))):
            r = c.request(method, path, b, {'Authorization': hdr})
            tap.ok(r.status == 401 and is_error_object(r) and r.headers.get('www-authenticate', '').startswith('Bearer'),
                   'auth: %s on %s %s -> 401 {"error"} + WWW-Authenticate: Bearer' % (what, method, path),
                   '%r %r' % (r, r.headers))
    r = c.request('POST', '/v1/models/sc_cls:predict', body, {'Authorization': 'Bearer ' + token})
    pred = (r.json() or {}).get('predictions')
    tap.ok(r.status == 200 and isinstance(pred, list) and len(pred) == 2, 'auth: the right token -> 200 predictions', r)
    r = c.request('GET', '/v2/health/live')
    tap.ok(r.status == 200, 'auth: liveness needs no token', r)
    c.close()


def rate_limit(ctx, srv, rpm):
    tap = ctx.tap
    a = Conn(srv.port)
    body = json.dumps(ctx.rows[0])
    statuses, refused = [], []
    for _ in range(rpm + 15):
        r = a.request('POST', '/predict', body)
        statuses.append(r.status)
        if r.status == 429:
            refused.append(r)
    n_ok = statuses.count(200)
    tap.ok(rpm - 1 <= n_ok <= rpm + 1 and len(refused) == len(statuses) - n_ok,
           'rate limit %d/min: %d of %d quick requests served, the rest 429' % (rpm, n_ok, len(statuses)), statuses)
    tap.ok(refused and all(is_error_object(r) and re.fullmatch(r'[1-9][0-9]*', r.headers.get('retry-after', ''))
                           for r in refused),
           '429 answers carry {"error"} and Retry-After: <seconds>', refused[:1] and refused[0].headers)
    r = a.request('POST', '/v1/models/sc_cls:predict', json.dumps({'instances': ctx.rows[:1]}))
    tap.ok(r.status == 429 and is_error_object(r), 'rate limit holds for the same client on the TF route too', r)
    b = Conn(srv.port, source='127.0.0.2')
    r = b.request('POST', '/predict', body)
    tap.ok(r.status == 200, 'another client (127.0.0.2) is served while the first is limited', r)
    a.close()
    b.close()


# ------------------------------------------------------------------ metrics

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? ([^ ]+)( [0-9]+)?$')


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        m = SAMPLE.match(line)
        if not m:
            out[('__unparsed__', frozenset({('line', line)}))] = 0
            continue
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ''))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def get_metrics(ctx, srv):
    c = Conn(srv.port)
    r = c.request('GET', '/metrics')
    c.close()
    return r


def series(samples, name, **labels):
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def metrics(ctx, srv):
    tap = ctx.tap
    r = get_metrics(ctx, srv)
    tap.ok(r.status == 200 and r.headers.get('content-type', '').replace(' ', '') ==
           'text/plain;version=0.0.4;charset=utf-8', 'GET /metrics -> 200 text/plain; version=0.0.4; charset=utf-8',
           r.headers.get('content-type'))
    p = subprocess.run(['promtool', 'check', 'metrics'], input=r.body, capture_output=True, timeout=30)
    tap.ok(p.returncode == 0, 'promtool check metrics accepts the exposition',
           (p.stdout + p.stderr).decode('utf-8', 'replace')[-600:])
    before = parse_metrics(r.body.decode('utf-8', 'replace'))
    tap.ok(not any(n == '__unparsed__' for n, _ in before), 'every sample line parses')
    names = {n for n, _ in before}
    req = next((n for n in sorted(names) if n.endswith('_requests_total')), None)
    err = next((n for n in sorted(names) if n.endswith('_errors_total')), None)
    hist = next((n[:-len('_bucket')] for n in sorted(names) if n.endswith('_bucket')), None)
    if not tap.ok(req and err and hist, 'request and error counters and a latency histogram are exposed', sorted(names)):
        return
    c = Conn(srv.port)
    body = json.dumps({'instances': ctx.rows[:1]})
    for _ in range(25):
        c.request('POST', '/v1/models/sc_reg:predict', body)
    for _ in range(7):
        c.request('POST', '/v1/models/sc_reg:predict', '{"instances": [')
    c.close()
    after = parse_metrics(get_metrics(ctx, srv).body.decode('utf-8', 'replace'))
    d200 = series(after, req, model='sc_reg', version='1.0.0', code='200') - series(before, req, model='sc_reg', version='1.0.0', code='200')
    d400 = series(after, req, model='sc_reg', code='400') - series(before, req, model='sc_reg', code='400')
    e400 = series(after, err, model='sc_reg', code='400') - series(before, err, model='sc_reg', code='400')
    tap.ok(d200 == 25, '%s{model="sc_reg",version="1.0.0",code="200"} grew by the 25 requests made' % req, d200)
    tap.ok(d400 == 7 and e400 == 7, '%s and %s{code="400"} of sc_reg grew by the 7 bad bodies' % (req, err), (d400, e400))
    ok = True
    for (n, ls), v in after.items():
        if n != hist + '_bucket':
            continue
        base = {kv for kv in ls if kv[0] != 'le'}
        same = sorted(((float('inf') if dict(ls2)['le'] == '+Inf' else float(dict(ls2)['le'])), v2)
                      for (n2, ls2), v2 in after.items() if n2 == n and {kv for kv in ls2 if kv[0] != 'le'} == base)
        counts = [x[1] for x in same]
        total = after.get((hist + '_count', frozenset(base)))
        ok &= counts == sorted(counts) and same[-1][0] == float('inf') and total == counts[-1]
    tap.ok(ok, 'histogram %s: cumulative buckets ending le="+Inf" equal to _count' % hist)
    sc = series(after, hist + '_count', model='sc_reg') - series(before, hist + '_count', model='sc_reg')
    tap.ok(sc == 32, '%s_count of sc_reg grew by the 32 requests' % hist, sc)


# ------------------------------------------------------------------ all

def run(ctx, srv_main, srv_one, only):
    def want(x):
        return not only or x in only
    if want('malformed'):
        slow = slow_start(srv_main)
        t_slow0 = time.time()
        malformed(ctx, srv_main, srv_one)
        # serve others while the slow clients still hold their connections
        served, slowest = 0, 0.0
        c = Conn(srv_main.port)
        body = json.dumps({'instances': ctx.rows[:3]})
        while any(t.is_alive() for t in slow) and time.time() - t_slow0 < SLOW_LIMIT + 12:
            t0 = time.time()
            r = c.request('POST', '/v1/models/sc_cls:predict', body)
            slowest = max(slowest, time.time() - t0)
            served += r.status == 200
            time.sleep(0.02)
        c.close()
        slow_finish(ctx, slow, served, slowest)
    if want('disconnect'):
        disconnects(ctx, srv_main)
    if want('metrics'):
        metrics(ctx, srv_main)
    if want('limits'):
        tok_file = os.path.join(ctx.args.work, 'token')
        token = 'mf-test-' + os.urandom(12).hex()
        with open(tok_file, 'w') as f:
            f.write(token + '\n')
        os.chmod(tok_file, 0o600)
        auth(ctx, ctx.start(ctx.args.models, 'auth', ['--bearer-token-file', tok_file]), token)
        rate_limit(ctx, ctx.start(ctx.args.one_model, 'rate', ['--requests-per-minute', '30']), 30)
        conn_srv = ctx.start(ctx.args.one_model, 'conn', ['--max-connections', '64'])
        connection_limit(ctx, conn_srv, 64)
