#!/usr/bin/python3
"""Protocol conformance of mf-serve (run by test/integration/serve_conformance.sh).

Golden cases, each checked against the database's own answers (the hex of
the bits of mf_predict / mf_predict_proba, and mf_predict_label, computed
by the shell part into --expect):
  - Open Inference Protocol v2: server metadata, health, model metadata and
    readiness, infer with one tensor per input (FP64, INT64, BOOL, BYTES,
    NULLs) and with one [n, p] tensor (FP64, FP32, INT64), errors; every
    answer is also validated against the protocol's OpenAPI file by
    openapi-response-validator (node, from npm);
  - TensorFlow Serving REST, from its REST documentation: model status
    (model_version_status), metadata (signature_def), :predict in the row
    form (objects, lists) and the columnar form, :classify and :regress
    with examples and context, {"b64": ...}, versions and labels, errors;
  - the generated one-model API: /predict, /batch_predict, /health.
Then robustness.py: malformed bodies, disconnects, slow clients, the
connection limit, methods, auth, rate limits, metrics.
"""
import argparse
import glob
import json
import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import client  # noqa: E402
import robustness  # noqa: E402
from client import Conn, Server, Tap, is_error_object  # noqa: E402

OIP_INFER = '/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}/infer'
OIP_MODEL = '/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}'
OIP_READY = '/v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}/ready'


def hexf(x):
    """The hex of a JSON number's double (None when it is no number)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    return struct.pack('>d', float(x)).hex()


def flatten(x):
    if isinstance(x, list):
        out = []
        for e in x:
            out.extend(flatten(e))
        return out
    return [x]


class Ctx:
    """What every check needs: the servers, the expectations, the reporter."""

    def __init__(self, args):
        self.args = args
        self.tap = Tap()
        with open(args.expect) as f:
            self.exp = json.load(f)
        self.rows = self.exp['rows']
        self.columns = self.exp['columns']
        self.labels = self.exp['class_labels']
        self.versions = {}  # name -> [serving.json], ascending number
        for p in sorted(glob.glob(os.path.join(args.models, '*', '*', 'serving.json'))):
            with open(p) as f:
                s = json.load(f)
            self.versions.setdefault(s['name'], []).append(s)
        for v in self.versions.values():
            v.sort(key=lambda s: s['version_number'])
        self.records = []  # OIP answers for the OpenAPI validator
        self.servers = []

    def number(self, name, semver):
        return next(s['version_number'] for s in self.versions[name] if s['version'] == semver)

    def start(self, base, tag, extra=()):
        s = Server(self.args.server, base, os.path.join(self.args.work, 'mf-serve-%s.log' % tag),
                   ['--max-body', '262144', '--max-batch', '64', '--timeout', str(robustness.TIMEOUT),
                    '--log-requests'] + list(extra))
        s.start()
        self.servers.append(s)
        return s

    def record(self, rid, op, method, resp):
        """Keep an OIP answer for the validator (bodies must be JSON when present)."""
        body = resp.json() if resp.body else None
        if resp.body and body is None:
            self.tap.ok(False, 'OIP %s: body is JSON' % rid, resp)
        self.records.append({'id': rid, 'op': op, 'method': method, 'status': resp.status, 'body': body})

    def stop_all(self):
        for s in self.servers:
            s.stop()


# ------------------------------------------------------------------ comparisons

def same_values(tap, what, got, expect):
    """Values (list of JSON numbers) equal the expected hex bit for bit."""
    g = [hexf(x) for x in got]
    e = [x['value'] for x in expect]
    bad = [i for i in range(max(len(g), len(e))) if i >= len(g) or i >= len(e) or g[i] != e[i]]
    return tap.ok(not bad, '%s: %d values bit for bit equal to mf_predict' % (what, len(e)),
                  'rows %s differ: got %s' % (bad[:5], [got[i] if i < len(got) else None for i in bad[:5]]))


def same_labels(tap, what, got, expect):
    e = [x['label'] for x in expect]
    return tap.ok(got == e, '%s: labels equal mf_predict_label' % what, 'got %s, want %s' % (got[:6], e[:6]))


def same_proba(tap, what, got, expect):
    """Per row: probabilities (in the order of the model's labels) bit for bit."""
    g = [[hexf(p) for p in row] if isinstance(row, list) else None for row in got]
    e = [x['proba'] for x in expect]
    return tap.ok(g == e, '%s: probabilities bit for bit equal to mf_predict_proba' % what,
                  'first rows got %s want %s' % (got[:2], e[:2]))


def json_answer(tap, what, resp, status=200):
    """The JSON body of an answer with the expected status and content type."""
    body = resp.json()
    ok = (resp.status == status and body is not None
          and resp.headers.get('content-type', '').startswith('application/json'))
    tap.ok(ok, '%s -> %d application/json' % (what, status), resp)
    return body if ok else None


def error_answer(tap, what, resp, status):
    """An error answer: the status and the protocols' error object."""
    return tap.ok(resp.status == status and is_error_object(resp),
                  '%s -> %d {"error": ...}' % (what, status), '%r %r' % (resp, resp.headers))


# ------------------------------------------------------------------ OIP

def oip_tensor(col, values, dtype):
    return {'name': col, 'shape': [len(values)], 'datatype': dtype, 'data': values}


def oip_per_input(ctx, rows):
    """One tensor per input named as in the feature schema."""
    return {'inputs': [oip_tensor('x1', [r['x1'] for r in rows], 'FP64'),
                       oip_tensor('x2', [r['x2'] for r in rows], 'INT64'),
                       oip_tensor('flag', [r['flag'] for r in rows], 'BOOL'),
                       oip_tensor('colour', [r['colour'] for r in rows], 'BYTES')]}


def oip_outputs(tap, what, body, n, classifier, k):
    """The outputs of an infer answer by name, after checking their shapes and types."""
    outs = {o.get('name'): o for o in body.get('outputs', []) if isinstance(o, dict)}
    want = {'predict': ('FP64', [n])}
    if classifier:
        want['label'] = ('BYTES', [n])
    ok = True
    for name, (dt, shape) in want.items():
        o = outs.get(name)
        ok &= tap.ok(o is not None and o.get('datatype') == dt and o.get('shape') == shape
                     and len(flatten(o.get('data'))) == n,
                     '%s: output %s is %s %s with %d elements' % (what, name, dt, shape, n), o)
    if classifier:
        o = outs.get('probabilities')
        ok &= tap.ok(o is not None and o.get('datatype') == 'FP64' and o.get('shape') == [n, k]
                     and len(flatten(o.get('data'))) == n * k,
                     '%s: output probabilities is FP64 [%d, %d]' % (what, n, k), o)
    return outs if ok else None


def check_infer(ctx, conn, what, path, body, expect, semver, classifier, n=None):
    tap = ctx.tap
    r = conn.request('POST', path, json.dumps(body))
    ctx.record(what, OIP_INFER, 'post', r)
    b = json_answer(tap, what, r)
    if b is None:
        return
    n = len(expect) if n is None else n
    tap.ok(b.get('model_name') == path.split('/')[3] and b.get('model_version') == semver,
           '%s: model_name and model_version (semver %s)' % (what, semver), b.get('model_version'))
    tap.ok(r.headers.get('x-model-version') == semver, '%s: X-Model-Version: %s' % (what, semver), r.headers)
    outs = oip_outputs(tap, what, b, n, classifier, len(ctx.labels))
    if outs is None:
        return
    same_values(tap, what, flatten(outs['predict']['data']), expect)
    if classifier:
        same_labels(tap, what, flatten(outs['label']['data']), expect)
        p = flatten(outs['probabilities']['data'])
        k = len(ctx.labels)
        same_proba(tap, what, [p[i * k:(i + 1) * k] for i in range(n)], expect)


def oip_checks(ctx, srv):
    tap = ctx.tap
    c = Conn(srv.port)
    exp = ctx.exp['expect']
    for path in ('/v2', '/v2/'):
        r = c.request('GET', path)
        ctx.record('GET ' + path, '/v2/', 'get', r)
        b = json_answer(tap, 'OIP GET %s (server metadata)' % path, r)
        if b is not None:
            tap.ok(isinstance(b.get('name'), str) and isinstance(b.get('version'), str)
                   and isinstance(b.get('extensions'), list), 'OIP server metadata has name, version, extensions', b)
    for path in ('/v2/health/live', '/v2/health/ready'):
        r = c.request('GET', path)
        ctx.record('GET ' + path, path, 'get', r)
        tap.ok(r.status == 200, 'OIP GET %s -> 200' % path, r)
    for name, classifier in (('sc_cls', True), ('sc_reg', False)):
        for v in ctx.versions[name]:
            for path in ('/v2/models/%s/versions/%s' % (name, v['version']),) + (
                    ('/v2/models/%s' % name,) if v is ctx.versions[name][-1] else ()):
                r = c.request('GET', path)
                ctx.record('GET ' + path, OIP_MODEL, 'get', r)
                b = json_answer(tap, 'OIP GET %s (model metadata)' % path, r)
                if b is None:
                    continue
                ins = {t.get('name'): t for t in b.get('inputs', [])}
                outs = {t.get('name') for t in b.get('outputs', [])}
                tap.ok(b.get('name') == name and set(ins) == set(ctx.columns)
                       and ins['colour'].get('datatype') == 'BYTES'
                       and {'predict'} | ({'label', 'probabilities'} if classifier else set()) <= outs,
                       'OIP metadata of %s: inputs named as the feature schema (colour BYTES), outputs' % path,
                       b)
                want_versions = [s['version'] for s in ctx.versions[name]]
                tap.ok(sorted(b.get('versions') or []) == sorted(want_versions) or
                       b.get('versions') == [v['version']] or
                       (path.endswith(name) and b.get('versions') is not None
                        and set(b['versions']) <= set(want_versions)),
                       'OIP metadata of %s: versions are semvers' % path, b.get('versions'))
            for path in ('/v2/models/%s/versions/%s/ready' % (name, v['version']), '/v2/models/%s/ready' % name):
                r = c.request('GET', path)
                ctx.record('GET ' + path, OIP_READY, 'get', r)
                tap.ok(r.status == 200, 'OIP GET %s -> 200' % path, r)
    # infer: one tensor per input, all rows (NULLs, unseen and non-ASCII categories)
    check_infer(ctx, c, 'OIP infer sc_cls (bare name = production 1.0.0), per-input tensors',
                '/v2/models/sc_cls/infer', oip_per_input(ctx, ctx.rows), exp['sc_cls:1.0.0'], '1.0.0', True)
    check_infer(ctx, c, 'OIP infer sc_cls/versions/1.1.0, per-input tensors',
                '/v2/models/sc_cls/versions/1.1.0/infer', oip_per_input(ctx, ctx.rows), exp['sc_cls:1.1.0'], '1.1.0', True)
    num = ctx.number('sc_cls', '1.1.0')
    check_infer(ctx, c, 'OIP infer sc_cls/versions/%d (the integer number), per-input tensors' % num,
                '/v2/models/sc_cls/versions/%d/infer' % num, oip_per_input(ctx, ctx.rows[:5]),
                exp['sc_cls:1.1.0'][:5], '1.1.0', True)
    check_infer(ctx, c, 'OIP infer sc_reg, per-input tensors', '/v2/models/sc_reg/infer',
                oip_per_input(ctx, ctx.rows), exp['sc_reg:1.0.0'], '1.0.0', False)
    body = oip_per_input(ctx, ctx.rows[:3])
    body['id'] = 'req-42'
    r = c.request('POST', '/v2/models/sc_reg/infer', json.dumps(body))
    ctx.record('infer with id', OIP_INFER, 'post', r)
    b = json_answer(tap, 'OIP infer with "id"', r)
    tap.ok(b is not None and b.get('id') == 'req-42', 'OIP infer echoes the request id', b)
    # one [n, p] tensor of the expanded features (FP64, FP32, INT64)
    for dt, key in (('FP64', 'fp'), ('FP32', 'fp'), ('INT64', 'int')):
        arrays = ctx.exp['arrays'][key]
        n, p = len(arrays['x']), len(arrays['x'][0])
        for model, ref, classifier in (('sc_cls', 'sc_cls:1.0.0', True), ('sc_reg', 'sc_reg:1.0.0', False)):
            body = {'inputs': [{'name': 'input-0', 'shape': [n, p], 'datatype': dt, 'data': flatten(arrays['x'])}]}
            check_infer(ctx, c, 'OIP infer %s, one [%d, %d] %s tensor' % (model, n, p, dt),
                        '/v2/models/%s/infer' % model, body, arrays[ref], '1.0.0', classifier)
    # nested data (the tensor_data schema allows it)
    arrays = ctx.exp['arrays']['fp']
    body = {'inputs': [{'name': 'x', 'shape': [len(arrays['x']), len(arrays['x'][0])], 'datatype': 'FP64',
                        'data': arrays['x']}]}
    check_infer(ctx, c, 'OIP infer sc_reg, one tensor with nested data', '/v2/models/sc_reg/infer', body,
                arrays['sc_reg:1.0.0'], '1.0.0', False)
    # errors
    cases = [('POST', '/v2/models/nope/infer', oip_per_input(ctx, ctx.rows[:1]), 404, OIP_INFER, 'unknown model'),
             ('POST', '/v2/models/sc_cls/versions/9.9.9/infer', oip_per_input(ctx, ctx.rows[:1]), 404, OIP_INFER,
              'unknown version'),
             ('POST', '/v2/models/sc_cls/versions/999999/infer', oip_per_input(ctx, ctx.rows[:1]), 404, OIP_INFER,
              'unknown version number'),
             ('POST', '/v2/models/sc_cls/infer', '{"inputs": [', 400, OIP_INFER, 'truncated JSON'),
             ('POST', '/v2/models/sc_cls/infer', {'inputs': [{'name': 'x1', 'shape': [1], 'datatype': 'FP64',
                                                              'data': [1.0]}]}, 400, OIP_INFER, 'missing inputs'),
             ('POST', '/v2/models/sc_cls/infer', {'inputs': [{'name': 'input', 'shape': [1, 6], 'datatype': 'FLOAT64',
                                                              'data': [0.0] * 6}]}, 400, OIP_INFER, 'unknown dtype'),
             ('GET', '/v2/models/nope', None, 404, OIP_MODEL, 'metadata of an unknown model'),
             ('GET', '/v2/models/sc_cls/versions/9.9.9', None, 404, OIP_MODEL, 'metadata of an unknown version'),
             ('GET', '/v2/models/nope/ready', None, 404, OIP_READY, 'readiness of an unknown model')]
    for method, path, body, status, op, what in cases:
        r = c.request(method, path, None if body is None else (body if isinstance(body, str) else json.dumps(body)))
        ctx.record('error: ' + what, op, method.lower(), r)
        error_answer(tap, 'OIP %s (%s %s)' % (what, method, path), r, status)
    r = c.request('GET', '/v2/models/sc_cls/infer')
    ctx.record('error: GET infer', OIP_INFER, 'post', r)
    tap.ok(r.status == 405 and is_error_object(r) and 'POST' in r.headers.get('allow', ''),
           'OIP GET .../infer -> 405 {"error"} with Allow: POST', '%r %r' % (r, r.headers))
    c.close()


# ------------------------------------------------------------------ TF Serving

def tf_status_checks(ctx, c):
    tap = ctx.tap
    vs = ctx.versions['sc_cls']
    r = c.request('GET', '/v1/models/sc_cls')
    b = json_answer(tap, 'TF GET /v1/models/sc_cls', r)
    if b is not None:
        st = b.get('model_version_status')
        tap.ok(isinstance(st, list) and sorted(e.get('version') for e in st) == sorted(str(v['version_number']) for v in vs)
               and all(e.get('state') == 'AVAILABLE' and e.get('status') == {'error_code': 'OK', 'error_message': ''}
                       for e in st),
               'TF model status: every version, numbers as strings, AVAILABLE, status OK', b)
    for path, number in (('/v1/models/sc_cls/versions/%d' % vs[1]['version_number'], vs[1]['version_number']),
                         ('/v1/models/sc_cls/labels/challenger', ctx.number('sc_cls', '1.1.0')),
                         ('/v1/models/sc_cls/labels/production', ctx.number('sc_cls', '1.0.0'))):
        b = json_answer(tap, 'TF GET %s' % path, c.request('GET', path))
        if b is not None:
            tap.ok([e.get('version') for e in b.get('model_version_status', [])] == [str(number)],
                   'TF GET %s: model_version_status of version %d only' % (path, number), b)
    b = json_answer(tap, 'TF GET /v1/models/sc_cls/metadata', c.request('GET', '/v1/models/sc_cls/metadata'))
    if b is not None:
        spec = b.get('model_spec', {})
        sig = b.get('metadata', {}).get('signature_def', {}).get('signature_def', {}).get('serving_default', {})
        tap.ok(spec.get('name') == 'sc_cls' and spec.get('version') == str(ctx.number('sc_cls', '1.0.0')),
               'TF metadata: model_spec names sc_cls and the production version number', spec)
        tap.ok(set(sig.get('inputs', {})) == set(ctx.columns) and {'predict', 'label', 'probabilities'} <= set(sig.get('outputs', {}))
               and sig['inputs']['colour'].get('dtype') == 'DT_STRING',
               'TF metadata: serving_default signature with the feature schema inputs and the outputs', sig)


def tf_predict_rows(ctx, c, what, path, body, expect, semver, classifier):
    tap = ctx.tap
    r = c.request('POST', path, json.dumps(body))
    b = json_answer(tap, what, r)
    if b is None:
        return
    tap.ok(r.headers.get('x-model-version') == semver, '%s: X-Model-Version: %s' % (what, semver), r.headers.get('x-model-version'))
    pred = b.get('predictions')
    if not tap.ok(isinstance(pred, list) and len(pred) == len(expect) and set(b) == {'predictions'},
                  '%s: {"predictions": [%d items]}' % (what, len(expect)), b):
        return
    if classifier:  # several named outputs: a list of objects (TF REST doc, row format)
        if tap.ok(all(isinstance(p, dict) and set(p) == {'predict', 'label', 'probabilities'} for p in pred),
                  '%s: each prediction an object of the named outputs' % what, pred[:2]):
            same_values(tap, what, [p['predict'] for p in pred], expect)
            same_labels(tap, what, [p['label'] for p in pred], expect)
            same_proba(tap, what, [p['probabilities'] for p in pred], expect)
    else:  # one output: bare values
        same_values(tap, what, pred, expect)


def tf_checks(ctx, srv):
    tap = ctx.tap
    c = Conn(srv.port)
    exp = ctx.exp['expect']
    tf_status_checks(ctx, c)
    rows, cols = ctx.rows, ctx.columns
    n1, n2 = ctx.number('sc_cls', '1.0.0'), ctx.number('sc_cls', '1.1.0')
    for path, ref in (('/v1/models/sc_cls:predict', 'sc_cls:1.0.0'),
                      ('/v1/models/sc_cls/versions/%d:predict' % n2, 'sc_cls:1.1.0'),
                      ('/v1/models/sc_cls/versions/%d:predict' % n1, 'sc_cls:1.0.0'),
                      ('/v1/models/sc_cls/labels/challenger:predict', 'sc_cls:1.1.0'),
                      ('/v1/models/sc_cls/labels/production:predict', 'sc_cls:1.0.0')):
        tf_predict_rows(ctx, c, 'TF %s instances as objects (NULLs, texts)' % path, path,
                        {'instances': rows}, exp[ref], ref.split(':')[1], True)
    tf_predict_rows(ctx, c, 'TF :predict instances as lists in feature order', '/v1/models/sc_cls:predict',
                    {'signature_name': 'serving_default', 'instances': [[r[k] for k in cols] for r in rows]},
                    exp['sc_cls:1.0.0'], '1.0.0', True)
    tf_predict_rows(ctx, c, 'TF sc_reg :predict instances (one output: bare values)', '/v1/models/sc_reg:predict',
                    {'instances': rows}, exp['sc_reg:1.0.0'], '1.0.0', False)
    b64rows = [dict(r, colour={'b64': client_b64(r['colour'])}) if r['colour'] is not None else r for r in rows]
    tf_predict_rows(ctx, c, 'TF :predict with the text feature as {"b64": ...}', '/v1/models/sc_cls:predict',
                    {'instances': b64rows}, exp['sc_cls:1.0.0'], '1.0.0', True)
    # columnar
    r = c.request('POST', '/v1/models/sc_cls:predict', json.dumps({'inputs': {k: [r[k] for r in rows] for k in cols}}))
    b = json_answer(tap, 'TF :predict columnar inputs (classifier)', r)
    if b is not None:
        o = b.get('outputs')
        if tap.ok(isinstance(o, dict) and set(o) == {'predict', 'label', 'probabilities'} and set(b) == {'outputs'},
                  'TF columnar answer {"outputs": {predict, label, probabilities}}', b):
            same_values(tap, 'TF columnar', o['predict'], exp['sc_cls:1.0.0'])
            same_labels(tap, 'TF columnar', o['label'], exp['sc_cls:1.0.0'])
            same_proba(tap, 'TF columnar', o['probabilities'], exp['sc_cls:1.0.0'])
    r = c.request('POST', '/v1/models/sc_reg:predict', json.dumps({'inputs': {k: [r[k] for r in rows] for k in cols}}))
    b = json_answer(tap, 'TF :predict columnar inputs (regressor)', r)
    if b is not None and tap.ok(isinstance(b.get('outputs'), list), 'TF columnar, one output: {"outputs": [values]}', b):
        same_values(tap, 'TF columnar regressor', b['outputs'], exp['sc_reg:1.0.0'])
    # classify / regress with examples (and a context)
    r = c.request('POST', '/v1/models/sc_cls:classify', json.dumps({'examples': rows}))
    b = json_answer(tap, 'TF :classify examples', r)
    if b is not None:
        res = b.get('results')
        ok = tap.ok(isinstance(res, list) and len(res) == len(rows) and set(b) == {'results'},
                    'TF :classify answer {"results": [...]} (key of TF Serving\'s REST example and of its '
                    'json_tensor test; "result" breaks TF clients)', list(b)[:3])
        if ok and tap.ok(all(isinstance(e, list) and [p[0] for p in e] == ctx.labels for e in res),
                         'TF :classify: [label, score] pairs in the model\'s label order', res[:1]):
            same_proba(tap, 'TF :classify scores', [[p[1] for p in e] for e in res], exp['sc_cls:1.0.0'])
    ctx_rows = [{k: v for k, v in r.items() if k != 'flag'} for r in rows[:6]]
    r = c.request('POST', '/v1/models/sc_reg:regress',
                  json.dumps({'context': {'flag': rows[0]['flag']}, 'examples': ctx_rows}))
    b = json_answer(tap, 'TF :regress examples with a context', r)
    if b is not None:
        res = b.get('results')
        if tap.ok(isinstance(res, list) and set(b) == {'results'}, 'TF :regress answer {"results": [values]}', b):
            # the context's flag equals row 0's: compare where the rows' flag matches it
            same = [i for i in range(6) if rows[i]['flag'] == rows[0]['flag']]
            same_values(tap, 'TF :regress with context', [res[i] for i in same], [exp['sc_reg:1.0.0'][i] for i in same])
    r = c.request('POST', '/v1/models/sc_reg:regress', json.dumps({'signature_name': 'serving_default', 'examples': rows}))
    b = json_answer(tap, 'TF :regress examples', r)
    if b is not None and isinstance(b.get('results', b.get('result')), list):
        same_values(tap, 'TF :regress', b.get('results', b.get('result')), exp['sc_reg:1.0.0'])
    # errors, from the REST documentation: {"error": ...} with TF Serving's codes
    one = {'instances': rows[:1]}
    cases = [('POST', '/v1/models/half:predict', one, 404, 'unknown model (the doc\'s example)'),
             ('POST', '/v1/models/sc_cls/versions/999999:predict', one, 404, 'unknown version'),
             ('POST', '/v1/models/sc_cls/labels/nolabel:predict', one, 404, 'unknown label'),
             ('GET', '/v1/models/nope', None, 404, 'status of an unknown model'),
             ('GET', '/v1/models/sc_cls/versions/999999/metadata', None, 404, 'metadata of an unknown version'),
             ('POST', '/v1/models/sc_cls:predict', '{"instances": [1.0,5.0', 400, 'truncated JSON'),
             ('POST', '/v1/models/sc_cls:predict', dict(one, inputs={'x1': [1.0]}), 400,
              'both "instances" and "inputs"'),
             ('POST', '/v1/models/sc_cls:predict', {'instances': rows[:1], 'signature_name': 'nope'}, 400,
              'unknown signature_name'),
             ('POST', '/v1/models/sc_reg:classify', {'examples': rows[:1]}, 400, ':classify of a regressor'),
             ('POST', '/v1/models/sc_cls:regress', {'examples': rows[:1]}, 400, ':regress of a classifier'),
             ('POST', '/v1/models/sc_cls:predict', {'instances': [dict(rows[0], x1='abc')]}, 400,
              'text that is no number in a numeric feature'),
             ('POST', '/v1/models/sc_cls:predict', {'instances': [{k: v for k, v in rows[0].items() if k != 'x2'}]},
              400, 'a feature missing (null imputes, absence is an error)'),
             ('POST', '/v1/models/sc_cls:predict', {'instances': [rows[0], [rows[1][k] for k in cols]]}, 400,
              'instances of mixed forms (an object, then a list: TF Serving wants one form for every row)'),
             ('POST', '/v1/models/sc_cls:predict', {'instances': []}, 400, 'empty "instances" (TF Serving: no values)'),
             ('POST', '/v1/models/sc_reg:regress', {'examples': []}, 400, 'empty "examples" (TF Serving: empty array)')]
    for method, path, body, status, what in cases:
        r = c.request(method, path, None if body is None else (body if isinstance(body, str) else json.dumps(body)))
        error_answer(tap, 'TF %s (%s %s)' % (what, method, path), r, status)
    for method, path, allow in (('GET', '/v1/models/sc_cls:predict', 'POST'), ('PUT', '/v1/models/sc_cls:predict', 'POST'),
                                ('POST', '/v1/models/sc_cls', 'GET'), ('DELETE', '/v1/models/sc_cls/metadata', 'GET')):
        r = c.request(method, path)
        tap.ok(r.status == 405 and is_error_object(r) and allow in r.headers.get('allow', ''),
               'TF %s %s -> 405 {"error"} with Allow: %s' % (method, path, allow), '%r %r' % (r, r.headers.get('allow')))
    c.close()


def client_b64(s):
    import base64
    return base64.b64encode(s.encode('utf-8')).decode('ascii')


# ------------------------------------------------------------------ generated API

def generated_checks(ctx, srv):
    tap = ctx.tap
    c = Conn(srv.port)
    exp = ctx.exp['expect']['sc_cls:1.0.0']
    got = []
    for i, row in enumerate(ctx.rows):
        b = json_answer(tap, 'POST /predict row %d' % i, c.request('POST', '/predict', json.dumps(row))) if i < 3 else \
            c.request('POST', '/predict', json.dumps(row)).json()
        got.append(b)
    if tap.ok(all(isinstance(b, dict) and {'prediction', 'label', 'probabilities'} <= set(b) for b in got),
              'POST /predict answers as mf_predict(ref, jsonb): prediction, label, probabilities', got[:1]):
        same_values(tap, 'POST /predict', [b['prediction'] for b in got], exp)
        same_labels(tap, 'POST /predict', [b['label'] for b in got], exp)
        same_proba(tap, 'POST /predict', [[b['probabilities'].get(k) for k in ctx.labels] for b in got], exp)
    b = json_answer(tap, 'POST /batch_predict', c.request('POST', '/batch_predict', json.dumps(ctx.rows)))
    if b is not None and tap.ok(isinstance(b, list) and len(b) == len(ctx.rows), 'POST /batch_predict: one answer per row', b):
        same_values(tap, 'POST /batch_predict', [x.get('prediction') for x in b], exp)
        same_labels(tap, 'POST /batch_predict', [x.get('label') for x in b], exp)
    b = json_answer(tap, 'GET /health', c.request('GET', '/health'))
    tap.ok(b is not None, 'GET /health answers JSON', b)
    r = c.request('POST', '/predict', '{"x1": 1')
    error_answer(tap, 'POST /predict truncated JSON', r, 400)
    r = c.request('GET', '/predict')
    tap.ok(r.status == 405 and is_error_object(r) and 'POST' in r.headers.get('allow', ''),
           'GET /predict -> 405 with Allow: POST', r)
    c.close()
    # /predict on a server of several models is no route
    c = Conn(ctx.servers[0].port)
    error_answer(tap, 'POST /predict on a server of two models', c.request('POST', '/predict', json.dumps(ctx.rows[0])), 404)
    c.close()


# ------------------------------------------------------------------ validator

def validate_records(ctx):
    tap = ctx.tap
    p = client.run_oip_validator(ctx.args.spec, ctx.args.npm, ctx.args.work, ctx.records)
    lines = p.stdout.splitlines()
    bad = [l for l in lines if l.startswith('not ok')]
    for l in bad:
        print(l)
    n = sum(1 for l in lines if l.startswith('ok') or l.startswith('not ok'))
    tap.ok(p.returncode == 0 and n == len(ctx.records) and n > 0,
           '%d OIP answers valid against open_inference_rest.yaml (openapi-response-validator)' % n,
           '%d invalid; %s' % (len(bad), p.stderr[-500:]))


class External:
    """A server this script did not start (the in-database HTTP server)."""

    def __init__(self, port):
        self.port = port
        self.proc = None
        self.log_path = 'in-database-server'

    def alive(self):
        try:
            return Conn(self.port).request('GET', '/v2/health/live').status == 200
        except OSError:
            return False


def main():
    ap = argparse.ArgumentParser()
    for a in ('models', 'expect', 'npm', 'spec', 'work'):
        ap.add_argument('--' + a, required=True)
    ap.add_argument('--server', help='mf-serve to start (not with --external-port)')
    ap.add_argument('--one-model', help='model directory of the one-model server')
    ap.add_argument('--external-port', type=int,
                    help='check the server already listening on this port (OIP and TF Serving checks only)')
    ap.add_argument('--only', default='')
    args = ap.parse_args()
    ctx = Ctx(args)
    t0 = time.time()
    try:
        if args.external_port:
            main_srv = External(args.external_port)
            one_srv = None
            only = {'oip', 'tf'}
        else:
            main_srv = ctx.start(args.models, 'main')
            one_srv = ctx.start(args.one_model, 'one')
            only = set(args.only.split(',')) - {''}
        if not only or 'oip' in only:
            oip_checks(ctx, main_srv)
        if not only or 'tf' in only:
            tf_checks(ctx, main_srv)
        if not only or 'generated' in only:
            generated_checks(ctx, one_srv)
        if one_srv is not None:
            robustness.run(ctx, main_srv, one_srv, only)
        validate_records(ctx)
        for s in ctx.servers + ([main_srv] if args.external_port else []):
            ctx.tap.ok(s.alive(), '%s alive at the end' % os.path.basename(s.log_path))
    except Exception as e:  # a crash of the test itself is a failure, with its cause
        import traceback
        traceback.print_exc()
        ctx.tap.ok(False, 'the checks ran to the end', repr(e))
        for s in ctx.servers:
            if s.proc is not None and s.proc.poll() is not None:
                print('# mf-serve %s exited with %s; log tail:\n%s' % (s.log_path, s.proc.returncode, s.log_tail()))
    finally:
        ctx.stop_all()
    ctx.tap.note('conformance checks took %.1f s' % (time.time() - t0))
    return ctx.tap.done()


if __name__ == '__main__':
    sys.exit(main())
