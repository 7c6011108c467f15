"""Embeddings over HTTP, against the database's mf_embed.

  embed_check.py --port PORT --expect EXPECT.json --model NAME --work DIR
                 [--classifier] [--npm DIR --spec open_inference_rest.yaml]

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
With --classifier the model is a text classifier, whose embeddings are
asked for: OIP "outputs": [{"name": "embedding"}] (alone, and beside
probabilities), TF "signature_name": "embedding"; its default answers
carry no embedding; metadata lists the OIP output embedding and the TF
signature embedding beside serving_default; malformed bodies add an
unknown output, an unknown signature, the embedding signature on
:classify / :regress, "outputs" that are no list of {"name": ...}.  The
OIP requests sent are checked against the spec's inference_request schema
(python3-jsonschema): the valid ones valid, the malformed "outputs" not.
Python standard library only (+ yaml for the spec).  Exit 0 when all pass.
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import OIP_INFER, OIP_META, ServedCheck, check_args  # noqa: E402


def f32hex(x):
    """The bits of a JSON number rounded to float32, as float4send's hex."""
    return struct.pack('>f', x).hex()


def request_schema(spec_yaml):
    """A validator of OIP inference requests: the spec's inference_request schema (None without the spec)."""
    if not spec_yaml:
        return None
    import jsonschema
    import yaml
    with open(spec_yaml) as f:
        spec = yaml.safe_load(f)
    return jsonschema.Draft7Validator({'$ref': '#/components/schemas/inference_request',
                                       'components': spec['components']})


class Check(ServedCheck):
    def __init__(self, args):
        super().__init__(args)
        self.texts, self.col, self.dim, self.expect = (self.e['texts'], self.e['text_column'], self.e['dim'],
                                                       self.e['expect'])
        self.cls = args.classifier
        # what asks a classifier for its embeddings (an embedding version needs nothing)
        self.want = {'outputs': [{'name': 'embedding'}]} if self.cls else {}
        self.sig = {'signature_name': 'embedding'} if self.cls else {}
        self.schema = request_schema(args.spec)
        self.requests = []

    def infer(self, body):
        """POST an OIP infer body, kept for the request schema check."""
        self.requests.append(body)
        return self.post('/v2/models/%s/infer' % self.args.model, body)

    def requests_valid(self):
        """Every well-formed OIP request sent is an inference_request of the spec."""
        if self.schema is None:
            return
        bad = [(b, e.message) for b in self.requests for e in self.schema.iter_errors(b)]
        self.tap.ok(self.requests and not bad, '%d OIP requests sent (outputs included) valid against the spec\'s '
                    'inference_request schema' % len(self.requests), [(json.dumps(b)[:120], m) for b, m in bad[:3]])

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
            body = dict(self.want, id='e1', inputs=[{'name': name, 'shape': shape, 'datatype': 'BYTES', 'data': self.texts}])
            r = self.infer(body)
            self.record('infer %s %r' % (name, shape), OIP_INFER, 'post', r)
            a = r.json() or {}
            out = a.get('outputs') or [{}]
            if self.tap.ok(r.status == 200 and len(out) == 1 and out[0].get('name') == 'embedding'
                           and out[0].get('datatype') == 'FP32' and out[0].get('shape') == [n, d] and a.get('id') == 'e1',
                           'OIP infer, one BYTES tensor "%s" of shape %r: 200, one output embedding FP32 [%d, %d]'
                           % (name, shape, n, d), r):
                data = out[0].get('data') or []
                self.same('OIP infer %r' % (shape,), [data[i * d:(i + 1) * d] for i in range(n)])
        r = self.infer({'inputs': [{'name': 't', 'shape': [1], 'datatype': 'BYTES', 'data': [self.texts[0]]}],
                        'outputs': [{'name': 'embedding'}]})
        self.record('infer outputs embedding', OIP_INFER, 'post', r)
        self.tap.ok(r.status == 200 and [o['name'] for o in (r.json() or {}).get('outputs', [])] == ['embedding'],
                    'OIP infer with outputs [embedding]: 200', r)
        if self.cls:
            self.oip_classifier()
        r = self.conn.request('GET', '/v2/models/%s' % m)
        self.record('model metadata', OIP_META, 'get', r)
        meta = r.json() or {}
        emb = {'name': 'embedding', 'datatype': 'FP32', 'shape': [-1, d]}
        outs = ([o.get('name') for o in meta.get('outputs', [])[:3]] == ['predict', 'label', 'probabilities']
                and meta.get('outputs', [])[3:] == [emb]) if self.cls else meta.get('outputs') == [emb]
        task = 'classification' if self.cls else 'embedding'
        self.tap.ok(r.status == 200 and meta.get('inputs') == [{'name': self.col, 'datatype': 'BYTES', 'shape': [-1]}]
                    and outs and meta.get('properties', {}).get('task') == task,
                    'OIP metadata: one BYTES input "%s", outputs %sembedding FP32 [-1, %d], task %s'
                    % (self.col, 'predict, label, probabilities, ' if self.cls else '', d, task), r)

    def oip_classifier(self):
        """A classifier: the embedding beside probabilities; no embedding in the default answer."""
        n, d = len(self.texts), self.dim
        inputs = [{'name': 'text', 'shape': [n], 'datatype': 'BYTES', 'data': self.texts}]
        r = self.infer({'inputs': inputs, 'outputs': [{'name': 'probabilities'}, {'name': 'embedding'}]})
        self.record('infer outputs probabilities, embedding', OIP_INFER, 'post', r)
        out = {o.get('name'): o for o in (r.json() or {}).get('outputs', [])}
        if self.tap.ok(r.status == 200 and sorted(out) == ['embedding', 'probabilities']
                       and out['embedding'].get('shape') == [n, d] and len(out['probabilities'].get('data', [])) % n == 0,
                       'OIP infer of the classifier with outputs [probabilities, embedding]: both', r):
            data = out['embedding'].get('data') or []
            self.same('OIP infer, embedding beside probabilities', [data[i * d:(i + 1) * d] for i in range(n)])
        r = self.infer({'inputs': inputs})
        self.record('infer default outputs', OIP_INFER, 'post', r)
        self.tap.ok(r.status == 200 and [o.get('name') for o in (r.json() or {}).get('outputs', [])]
                    == ['predict', 'label', 'probabilities'],
                    'OIP infer of the classifier without "outputs": predict, label, probabilities (no embedding)', r)

    # ---------------------------------------------------------- TF Serving

    def tfs(self):
        m = self.args.model
        url = '/v1/models/%s:predict' % m
        for form, inst in (('strings', self.texts), ('objects', [{self.col: t} for t in self.texts])):
            r = self.post(url, dict(self.sig, instances=inst))
            if self.tap.ok(r.status == 200, 'TF :predict, instances of %s: 200' % form, r):
                self.same('TF :predict instances of ' + form, (r.json() or {}).get('predictions'))
        for form, inputs in (('object', {self.col: self.texts}), ('list', self.texts)):
            r = self.post(url, dict(self.sig, inputs=inputs))
            if self.tap.ok(r.status == 200, 'TF :predict, columnar inputs as %s: 200' % form, r):
                self.same('TF :predict columnar ' + form, (r.json() or {}).get('outputs'))
        r = self.conn.request('GET', '/v1/models/%s/metadata' % m)
        sig = (((r.json() or {}).get('metadata') or {}).get('signature_def') or {}).get('signature_def', {})
        sd = sig.get('embedding' if self.cls else 'serving_default', {})
        dims = sd.get('outputs', {}).get('embedding', {}).get('tensor_shape', {}).get('dim', [])
        default = set(sig.get('serving_default', {}).get('outputs', {}))
        self.tap.ok(r.status == 200 and sd.get('inputs', {}).get(self.col, {}).get('dtype') == 'DT_STRING'
                    and list(sd.get('outputs', {})) == ['embedding']
                    and sd['outputs']['embedding'].get('dtype') == 'DT_FLOAT'
                    and [x.get('size') for x in dims] == ['-1', str(self.dim)]
                    and default == ({'predict', 'label', 'probabilities'} if self.cls else {'embedding'}),
                    'TF metadata: signature %s: DT_STRING input "%s", one DT_FLOAT output embedding [-1, %d]%s'
                    % ('embedding' if self.cls else 'serving_default', self.col, self.dim,
                       '; serving_default: predict, label, probabilities' if self.cls else ''), r)

    # ---------------------------------------------------------- malformed

    def malformed(self):
        m = self.args.model
        infer, pred = '/v2/models/%s/infer' % m, '/v1/models/%s:predict' % m
        t = lambda dt, data, shape=None: dict(self.want, inputs=[{'name': 'text', 'datatype': dt,  # noqa: E731
                                                                'data': data, 'shape': shape or [len(data)]}])
        cases = [] if self.cls else [
            ('OIP output predict (not an output of an embedding model)', infer,
             dict(t('BYTES', ['a']), outputs=[{'name': 'predict'}])),
            ('TF :classify of an embedding model', '/v1/models/%s:classify' % m, {'examples': [{self.col: 'a'}]}),
            ('TF :regress of an embedding model', '/v1/models/%s:regress' % m, {'examples': [{self.col: 'a'}]}),
        ]
        if self.cls:
            one = {'inputs': [{'name': 'text', 'datatype': 'BYTES', 'data': ['a'], 'shape': [1]}]}
            off_spec = [dict(one, outputs={'name': 'embedding'}), dict(one, outputs=[{}]),
                        dict(one, outputs=[{'name': 5}])]
            cases += [
                ('OIP unknown output "embeddings"', infer, dict(one, outputs=[{'name': 'embeddings'}])),
                ('OIP output "text" of a classifier', infer, dict(one, outputs=[{'name': 'embedding'}, {'name': 'text'}])),
                ('OIP "outputs" an object, not a list', infer, off_spec[0]),
                ('OIP an output without a name', infer, off_spec[1]),
                ('OIP an output named by a number', infer, off_spec[2]),
                ('TF unknown signature_name "embed"', pred, {'signature_name': 'embed', 'instances': ['a']}),
                ('TF signature_name a number', pred, {'signature_name': 5, 'instances': ['a']}),
                ('TF :classify with signature embedding', '/v1/models/%s:classify' % m,
                 {'signature_name': 'embedding', 'examples': [{self.col: 'a'}]}),
                ('TF :regress with signature embedding', '/v1/models/%s:regress' % m,
                 {'signature_name': 'embedding', 'examples': [{self.col: 'a'}]}),
            ]
            if self.schema is not None:
                self.tap.ok(all(list(self.schema.iter_errors(b)) for b in off_spec),
                            'the malformed "outputs" sent are invalid against the spec\'s inference_request too')
        sg = self.sig
        cases += [
            ('OIP FP32 tensor', infer, t('FP32', [1.5])),
            ('OIP BYTES holding a number', infer, t('BYTES', ['a', 5])),
            ('OIP BYTES holding null', infer, t('BYTES', [None])),
            ('OIP data shorter than the shape', infer, t('BYTES', ['a'], [2])),
            ('TF instance a number', pred, dict(sg, instances=[5])),
            ('TF instance null', pred, dict(sg, instances=[None])),
            ('TF object without the text', pred, dict(sg, instances=[{'other': 'x'}])),
            ('TF more texts than the row limit', pred, dict(sg, instances=['a'] * 10001)),
            ('TF string beyond the string bound', pred, dict(sg, instances=['x' * 70000])),
        ]
        cases += [('TF invalid UTF-8', pred, b'{%s"instances": ["caf\xe9"]}' % (b'"signature_name": "embedding", ' if self.cls else b'')),
                  ('OIP truncated body', infer, b'{"inputs": [{"name": "t", "shape": [1], "datat')]
        self.refused(cases, infer)


def main():
    c = Check(check_args(('--classifier',)))
    c.oip()
    c.tfs()
    c.malformed()
    c.requests_valid()
    if c.args.npm:
        c.validate('oip-cemb' if c.cls else 'oip-embed', 'classifier embeddings' if c.cls else 'embedding model')
    return c.tap.done()


if __name__ == '__main__':
    sys.exit(main())
