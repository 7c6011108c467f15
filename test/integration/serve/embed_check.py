"""Embeddings over HTTP, against the database's mf_embed.

  embed_check.py --port PORT --expect EXPECT.json --model NAME --work DIR
                 [--npm DIR --spec open_inference_rest.yaml]

EXPECT.json (written by serve_text.sh from SQL): {"texts": [...],
"text_column": "...", "dim": d, "expect": [[hex, ...], ...]} where hex is
float4send of each value of mf_embed(ref, text) (big-endian float32 bits).
Checks, on a running server (mf-serve or the in-database worker) serving
an embedding version:
  - OIP v2 infer with one BYTES tensor [n] and [n, 1]: one output
    "embedding", FP32, shape [n, d], data row-major; TF Serving :predict
    with instances of strings and of objects ({"predictions": [[...], ...]})
    and the columnar inputs ({"outputs": [[...], ...]}): every value, read
    as a JSON number and rounded to float32, is mf_embed's float bit for bit;
  - metadata: OIP output embedding FP32 [-1, d], TF output embedding
    DT_FLOAT;
  - malformed bodies (an output the model lacks, :classify / :regress, a
    number or null for the text, a wrong datatype, invalid UTF-8, a string
    beyond the string bound, more texts than the row limit) answered 4xx
    with the error object, the server alive after each;
  - every OIP answer valid against the protocol's OpenAPI file.
Python standard library only (+ yaml for the spec).  Exit 0 when all pass.
"""
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import OIP_INFER, OIP_META, ServedCheck, check_args  # noqa: E402


def f32hex(x):
    """The bits of a JSON number rounded to float32, as float4send's hex."""
    return struct.pack('>f', x).hex()


class Check(ServedCheck):
    def __init__(self, args):
        super().__init__(args)
        self.texts, self.col, self.dim, self.expect = (self.e['texts'], self.e['text_column'], self.e['dim'],
                                                       self.e['expect'])

    def same(self, what, rows):
        """rows (lists of d JSON numbers) against mf_embed's floats, bit for bit."""
        bad = []
        if not isinstance(rows, list) or len(rows) != len(self.expect):
            bad.append('%r rows for %d texts' % (type(rows).__name__, len(self.expect)))
        else:
            for i, (got, want) in enumerate(zip(rows, self.expect)):
                if not isinstance(got, list) or len(got) != self.dim or not all(
                        isinstance(x, float) for x in got):
                    bad.append('row %d is not %d JSON reals: %r' % (i, self.dim, got if not isinstance(got, list) else got[:3]))
                elif [f32hex(x) for x in got] != want:
                    k = next(j for j in range(self.dim) if f32hex(got[j]) != want[j])
                    bad.append('row %d value %d: %r (%s), mf_embed %s' % (i, k, got[k], f32hex(got[k]), want[k]))
        self.tap.ok(not bad, what + ': mf_embed\'s float4 values bit for bit (%d texts x %d)' % (len(self.expect), self.dim),
                    bad[:3])

    # ---------------------------------------------------------- OIP

    def oip(self):
        m, n, d = self.args.model, len(self.texts), self.dim
        for name, shape in (('text', [n]), (self.col, [n, 1])):
            body = {'id': 'e1', 'inputs': [{'name': name, 'shape': shape, 'datatype': 'BYTES', 'data': self.texts}]}
            r = self.post('/v2/models/%s/infer' % m, body)
            self.record('infer %s %r' % (name, shape), OIP_INFER, 'post', r)
            a = r.json() or {}
            out = a.get('outputs') or [{}]
            if self.tap.ok(r.status == 200 and len(out) == 1 and out[0].get('name') == 'embedding'
                           and out[0].get('datatype') == 'FP32' and out[0].get('shape') == [n, d] and a.get('id') == 'e1',
                           'OIP infer, one BYTES tensor "%s" of shape %r: 200, one output embedding FP32 [%d, %d]'
                           % (name, shape, n, d), r):
                data = out[0].get('data') or []
                self.same('OIP infer %r' % (shape,), [data[i * d:(i + 1) * d] for i in range(n)])
        r = self.post('/v2/models/%s/infer' % m, {'inputs': [{'name': 't', 'shape': [1], 'datatype': 'BYTES',
                                                               'data': [self.texts[0]]}],
                                                   'outputs': [{'name': 'embedding'}]})
        self.record('infer outputs embedding', OIP_INFER, 'post', r)
        self.tap.ok(r.status == 200 and [o['name'] for o in (r.json() or {}).get('outputs', [])] == ['embedding'],
                    'OIP infer with outputs [embedding]: 200', r)
        r = self.conn.request('GET', '/v2/models/%s' % m)
        self.record('model metadata', OIP_META, 'get', r)
        meta = r.json() or {}
        self.tap.ok(r.status == 200 and meta.get('inputs') == [{'name': self.col, 'datatype': 'BYTES', 'shape': [-1]}]
                    and meta.get('outputs') == [{'name': 'embedding', 'datatype': 'FP32', 'shape': [-1, d]}]
                    and meta.get('properties', {}).get('task') == 'embedding',
                    'OIP metadata: one BYTES input "%s", one output embedding FP32 [-1, %d], task embedding' % (self.col, d), r)

    # ---------------------------------------------------------- TF Serving

    def tfs(self):
        m = self.args.model
        url = '/v1/models/%s:predict' % m
        for form, inst in (('strings', self.texts), ('objects', [{self.col: t} for t in self.texts])):
            r = self.post(url, {'instances': inst})
            if self.tap.ok(r.status == 200, 'TF :predict, instances of %s: 200' % form, r):
                self.same('TF :predict instances of ' + form, (r.json() or {}).get('predictions'))
        for form, inputs in (('object', {self.col: self.texts}), ('list', self.texts)):
            r = self.post(url, {'inputs': inputs})
            if self.tap.ok(r.status == 200, 'TF :predict, columnar inputs as %s: 200' % form, r):
                self.same('TF :predict columnar ' + form, (r.json() or {}).get('outputs'))
        r = self.conn.request('GET', '/v1/models/%s/metadata' % m)
        sig = (((r.json() or {}).get('metadata') or {}).get('signature_def') or {}).get('signature_def', {})
        sd = sig.get('serving_default', {})
        dims = sd.get('outputs', {}).get('embedding', {}).get('tensor_shape', {}).get('dim', [])
        self.tap.ok(r.status == 200 and sd.get('inputs', {}).get(self.col, {}).get('dtype') == 'DT_STRING'
                    and list(sd.get('outputs', {})) == ['embedding']
                    and sd['outputs']['embedding'].get('dtype') == 'DT_FLOAT'
                    and [x.get('size') for x in dims] == ['-1', str(self.dim)],
                    'TF metadata: DT_STRING input "%s", one DT_FLOAT output embedding [-1, %d]' % (self.col, self.dim), r)

    # ---------------------------------------------------------- malformed

    def malformed(self):
        m = self.args.model
        infer, pred = '/v2/models/%s/infer' % m, '/v1/models/%s:predict' % m
        t = lambda dt, data, shape=None: {'inputs': [{'name': 'text', 'datatype': dt, 'data': data,  # noqa: E731
                                                      'shape': shape or [len(data)]}]}
        cases = [
            ('OIP output predict (not an output of an embedding model)', infer,
             dict(t('BYTES', ['a']), outputs=[{'name': 'predict'}])),
            ('OIP FP32 tensor', infer, t('FP32', [1.5])),
            ('OIP BYTES holding a number', infer, t('BYTES', ['a', 5])),
            ('OIP BYTES holding null', infer, t('BYTES', [None])),
            ('OIP data shorter than the shape', infer, t('BYTES', ['a'], [2])),
            ('TF instance a number', pred, {'instances': [5]}),
            ('TF instance null', pred, {'instances': [None]}),
            ('TF object without the text', pred, {'instances': [{'other': 'x'}]}),
            ('TF :classify of an embedding model', '/v1/models/%s:classify' % m, {'examples': [{self.col: 'a'}]}),
            ('TF :regress of an embedding model', '/v1/models/%s:regress' % m, {'examples': [{self.col: 'a'}]}),
            ('TF more texts than the row limit', pred, {'instances': ['a'] * 10001}),
            ('TF string beyond the string bound', pred, {'instances': ['x' * 70000]}),
        ]
        cases += [('TF invalid UTF-8', pred, b'{"instances": ["caf\xe9"]}'),
                  ('OIP truncated body', infer, b'{"inputs": [{"name": "t", "shape": [1], "datat')]
        self.refused(cases, infer)


def main():
    c = Check(check_args())
    c.oip()
    c.tfs()
    c.malformed()
    if c.args.npm:
        c.validate('oip-embed', 'embedding model')
    return c.tap.done()


if __name__ == '__main__':
    sys.exit(main())
