"""Transformer text classifiers over HTTP (issue 17), against the database.

  text_check.py --port PORT --expect EXPECT.json --model NAME --work DIR
                [--npm DIR --spec open_inference_rest.yaml] [--one-model]

EXPECT.json (written by serve_text.sh from SQL): {"texts": [...],
"text_column": "...", "labels": [...], "expect": [{"value": hex, "label":
..., "proba": [hex, ...]}, ...]} where hex is the big-endian bits of
mf_predict / mf_predict_proba (float8send).  Checks, on a running server
(mf-serve or the in-database worker):
  - TF Serving :predict with instances of strings, of objects, and the
    columnar inputs (object and list), OIP v2 infer with one BYTES tensor
    [n] and [n, 1] (any name), the generated /predict (--one-model): the
    answers equal mf_predict, mf_predict_label and mf_predict_proba bit for
    bit;
  - metadata: TF DT_STRING input, OIP BYTES input and the outputs;
  - malformed text bodies (wrong datatype, non-strings, a missing input,
    a string beyond the string bound, a body beyond the body bound,
    invalid UTF-8) answered 4xx with the error object, the server alive
    after each;
  - every OIP answer valid against the protocol's OpenAPI file (node +
    openapi-response-validator, as conformance.py does).
Python standard library only (+ yaml for the spec).  Exit 0 when all pass.
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import OIP_INFER, OIP_META, ServedCheck, check_args, is_error_object  # noqa: E402


def hexbits(x):
    """The bits of a double as float8send's hex."""
    return struct.pack('>d', x).hex()


class Check(ServedCheck):
    def __init__(self, args):
        super().__init__(args)
        self.texts, self.col, self.expect = self.e['texts'], self.e['text_column'], self.e['expect']
        self.labels = self.e['labels']

    def same(self, what, values, labels, probas):
        """values, labels, probas of every text against the database's, bit for bit."""
        bad = []
        for i, e in enumerate(self.expect):
            if values is not None and hexbits(values[i]) != e['value']:
                bad.append('row %d value %r' % (i, values[i]))
            if labels is not None and labels[i] != e['label']:
                bad.append('row %d label %r != %r' % (i, labels[i], e['label']))
            if probas is not None and [hexbits(p) for p in probas[i]] != e['proba']:
                bad.append('row %d probabilities %r' % (i, probas[i]))
        self.tap.ok(not bad, what + ': mf_predict, mf_predict_label, mf_predict_proba bit for bit', bad[:3])

    # ---------------------------------------------------------- TF Serving

    def tfs(self):
        m = self.args.model
        url = '/v1/models/%s:predict' % m
        for form, inst in (('strings', self.texts), ('objects', [{self.col: t} for t in self.texts])):
            r = self.post(url, {'instances': inst})
            p = (r.json() or {}).get('predictions')
            if self.tap.ok(r.status == 200 and isinstance(p, list) and len(p) == len(self.texts),
                           'TF :predict, instances of %s: 200 and one prediction per text' % form, r):
                self.same('TF :predict instances of ' + form, [x['predict'] for x in p],
                          [x['label'] for x in p], [x['probabilities'] for x in p])
        for form, inputs in (('object', {self.col: self.texts}), ('list', self.texts)):
            r = self.post(url, {'inputs': inputs})
            o = (r.json() or {}).get('outputs')
            if self.tap.ok(r.status == 200 and isinstance(o, dict),
                           'TF :predict, columnar inputs as %s: 200, outputs by name' % form, r):
                self.same('TF :predict columnar ' + form, o['predict'], o['label'], o['probabilities'])
        r = self.conn.request('GET', '/v1/models/%s/metadata' % m)
        sig = (((r.json() or {}).get('metadata') or {}).get('signature_def') or {}).get('signature_def', {})
        sd = sig.get('serving_default', {})
        self.tap.ok(r.status == 200 and sd.get('inputs', {}).get(self.col, {}).get('dtype') == 'DT_STRING'
                    and set(sd.get('outputs', {})) == {'predict', 'label', 'probabilities'},
                    'TF metadata: one DT_STRING input "%s", outputs predict, label, probabilities' % self.col, r)
        r = self.conn.request('GET', '/v1/models/%s' % m)
        st = (r.json() or {}).get('model_version_status') or [{}]
        self.tap.ok(r.status == 200 and st[0].get('state') == 'AVAILABLE', 'TF model status AVAILABLE', r)

    # ---------------------------------------------------------- OIP

    def oip(self):
        m = self.args.model
        n = len(self.texts)
        for name, shape in (('text', [n]), (self.col, [n, 1])):
            body = {'id': 'q1', 'inputs': [{'name': name, 'shape': shape, 'datatype': 'BYTES', 'data': self.texts}]}
            r = self.post('/v2/models/%s/infer' % m, body)
            self.record('infer %s %r' % (name, shape), OIP_INFER, 'post', r)
            out = {o['name']: o for o in (r.json() or {}).get('outputs', [])}
            if self.tap.ok(r.status == 200 and set(out) == {'predict', 'label', 'probabilities'}
                           and out['label']['datatype'] == 'BYTES' and out['probabilities']['shape'] == [n, len(self.labels)],
                           'OIP infer, one BYTES tensor "%s" of shape %r: 200, predict/label/probabilities' % (name, shape), r):
                k = len(self.labels)
                pr = out['probabilities']['data']
                self.same('OIP infer %r' % (shape,), out['predict']['data'], out['label']['data'],
                          [pr[i * k:(i + 1) * k] for i in range(n)])
        r = self.post('/v2/models/%s/infer' % m, {'inputs': [{'name': 't', 'shape': [n], 'datatype': 'BYTES',
                                                               'data': self.texts}], 'outputs': [{'name': 'label'}]})
        self.record('infer outputs label', OIP_INFER, 'post', r)
        out = (r.json() or {}).get('outputs', [])
        self.tap.ok(r.status == 200 and [o['name'] for o in out] == ['label']
                    and out[0]['data'] == [e['label'] for e in self.expect], 'OIP infer with outputs [label]', r)
        r = self.conn.request('GET', '/v2/models/%s' % m)
        self.record('model metadata', OIP_META, 'get', r)
        meta = r.json() or {}
        self.tap.ok(r.status == 200 and meta.get('inputs') == [{'name': self.col, 'datatype': 'BYTES', 'shape': [-1]}]
                    and [o['name'] for o in meta.get('outputs', [])] == ['predict', 'label', 'probabilities', 'embedding']
                    and meta.get('properties', {}).get('family') == 'transformer',
                    'OIP metadata: one BYTES input "%s", outputs predict, label, probabilities (and embedding, '
                    'on request)' % self.col, r)

    def generated(self):
        rows = []
        for t in self.texts:
            r = self.post('/predict', {self.col: t})
            rows.append(r.json() if r.status == 200 else None)
        if self.tap.ok(all(rows), 'generated /predict: 200 for every text', rows[:2]):
            self.same('generated /predict', [x['prediction'] for x in rows], [x['label'] for x in rows],
                      [[x['probabilities'][lab] for lab in self.labels] for x in rows])

    # ---------------------------------------------------------- malformed

    def malformed(self):
        m = self.args.model
        infer, pred = '/v2/models/%s/infer' % m, '/v1/models/%s:predict' % m
        t = lambda dt, data, shape=None: {'inputs': [{'name': 'text', 'datatype': dt, 'data': data,  # noqa: E731
                                                      'shape': shape or [len(data)]}]}
        cases = [
            ('OIP FP64 tensor', infer, t('FP64', [1.5, 2.5])),
            ('OIP INT64 tensor', infer, t('INT64', [1])),
            ('OIP BOOL tensor', infer, t('BOOL', [True])),
            ('OIP BYTES holding a number', infer, t('BYTES', ['a', 5])),
            ('OIP BYTES holding null', infer, t('BYTES', [None])),
            ('OIP BYTES holding a boolean', infer, t('BYTES', [True])),
            ('OIP BYTES shape [n, 2]', infer, t('BYTES', ['a', 'b'], [1, 2])),
            ('OIP BYTES holding an object', infer, t('BYTES', [{'b64': 'aGk='}])),
            ('OIP two tensors', infer, {'inputs': t('BYTES', ['a'])['inputs'] * 2}),
            ('OIP unknown output', infer, dict(t('BYTES', ['a']), outputs=[{'name': 'text'}])),
            ('TF instance a number', pred, {'instances': [5]}),
            ('TF instance null', pred, {'instances': [None]}),
            ('TF instance a list of two', pred, {'instances': [['a', 'b']]}),
            ('TF object with a number', pred, {'instances': [{self.col: 5}]}),
            ('TF object without the text', pred, {'instances': [{'other': 'x'}]}),
            ('TF columnar without the text', pred, {'inputs': {'other': ['x']}}),
            ('TF columnar numbers', pred, {'inputs': {self.col: [1, 2]}}),
            ('TF :classify of no examples', '/v1/models/%s:classify' % m, {'examples': [{self.col: 1}]}),
            ('TF :regress of a classifier', '/v1/models/%s:regress' % m, {'examples': [{self.col: 'a'}]}),
        ]
        self.refused(cases, infer)
        long_text = 'x' * 70000    # beyond the 65,536 bytes of one JSON string, within the body limit
        self.refused((('OIP string beyond the string bound', infer, t('BYTES', [long_text])),
                      ('TF string beyond the string bound', pred, {'instances': [long_text]})), infer, (400,))
        huge = json.dumps({'instances': ['word ' * 1000] * 300}).encode()    # ~1.5 MB: beyond the body limit
        r = self.post(pred, huge, raw=True)
        self.tap.ok(r.status == 413 and is_error_object(r), 'a body of %d bytes (beyond the limit): 413' % len(huge), r)
        self.conn.close()
        self.alive('a body beyond the limit')
        self.refused((('TF invalid UTF-8', pred, b'{"instances": ["caf\xe9"]}'),
                      ('OIP invalid UTF-8', infer,
                       b'{"inputs": [{"name": "t", "shape": [1], "datatype": "BYTES", "data": ["\xff\xfe"]}]}'),
                      ('TF NUL escaped in a text', pred, b'{"instances": ["a\\u0000b"]}')), infer, (400,))


def main():
    c = Check(check_args(('--one-model',)))
    c.tfs()
    c.oip()
    if c.args.one_model:
        c.generated()
    c.malformed()
    if c.args.npm:
        c.validate('oip-text', 'text model')
    return c.tap.done()


if __name__ == '__main__':
    sys.exit(main())
