"""Seeded generator of malformed request bodies for the mf-serve tests.

Every body it yields must be refused with a 4xx: each mutation is chosen
so that no reading of the protocols could accept it (a prefix of a JSON
object is never JSON; a number that overflows a double; a feature the
model needs renamed away; a shape whose product differs from the data...).
Bodies are bytes; each comes with its kind, for the report.

Endpoints (kind -> what a valid body looks like):
  tf_predict     {"instances": [row objects]} / [[raw values]] / {"inputs": {...}}
  tf_classify    {"examples": [row objects]}
  tf_regress     {"examples": [row objects]}
  oip_infer      {"inputs": [one tensor per column]} / one [n, p] FP64 tensor
  predict        {row object}
  batch_predict  [row objects]
"""
import base64
import json
import random

NON_FINITE = ['NaN', 'Infinity', '-Infinity', 'nan', 'inf', '-inf', 'Inf', '+Infinity']
OVERFLOW = ['1e400', '-1e999', '2e308', '1' + '0' * 400, '-' + '9' * 420, '1.5e+99999']
BAD_DTYPES = ['FLOAT64', 'fp64', 'DOUBLE', '', 'STRING', 'FP128', 'TENSOR', 64, None, ['FP64']]
NUMERIC = ('x1', 'x2')  # numeric columns of the test models (booleans: flag)


def dumps(o):
    return json.dumps(o, ensure_ascii=False, separators=(',', ':'))


class Gen:
    """Malformed bodies around the valid requests of a set of rows."""

    def __init__(self, rows, columns, seed=20261205, max_body=262144, max_batch=64):
        self.rng = random.Random(seed)
        self.rows = rows
        self.columns = columns
        self.max_body = max_body
        self.max_batch = max_batch

    # ---------------------------------------------------------------- valid bodies
    def some_rows(self, lo=1, hi=4):
        return [dict(r) for r in self.rng.sample(self.rows, self.rng.randint(lo, hi))]

    def valid(self, kind):
        """A valid body (as a Python value) of an endpoint kind."""
        rows = self.some_rows()
        if kind == 'tf_predict':
            form = self.rng.choice(('objects', 'lists', 'columns'))
            if form == 'objects':
                return {'instances': rows}
            if form == 'lists':
                return {'instances': [[r[c] for c in self.columns] for r in rows]}
            return {'inputs': {c: [r[c] for r in rows] for c in self.columns}}
        if kind in ('tf_classify', 'tf_regress'):
            return {'examples': rows}
        if kind == 'oip_infer':
            n = len(rows)
            return {'inputs': [self.tensor(c, [r[c] for r in rows]) for c in self.columns]}
        if kind == 'predict':
            return rows[0]
        if kind == 'batch_predict':
            return rows
        raise ValueError(kind)

    def tensor(self, col, values):
        if col == 'colour':
            dt = 'BYTES'
        elif col == 'flag':
            dt = 'BOOL'
        elif col == 'x2':
            dt = 'INT64'
        else:
            dt = 'FP64'
        return {'name': col, 'shape': [len(values), 1] if self.rng.random() < 0.3 else [len(values)],
                'datatype': dt, 'data': values}

    # ---------------------------------------------------------------- mutations
    def rows_of(self, body, kind):
        """The list of row objects inside a valid body (None when columnar/tensor)."""
        if kind == 'predict':
            return [body]
        if kind == 'batch_predict':
            return body
        if kind == 'tf_predict' and isinstance(body.get('instances'), list) and isinstance(body['instances'][0], dict):
            return body['instances']
        if kind in ('tf_classify', 'tf_regress'):
            return body['examples']
        return None

    def numeric_slot(self, body, kind):
        """(container, key) of a numeric value inside a valid body."""
        rows = self.rows_of(body, kind)
        col = self.rng.choice(NUMERIC)
        if rows is not None:
            return self.rng.choice(rows), col
        if kind == 'tf_predict' and 'instances' in body:
            return self.rng.choice(body['instances']), self.columns.index(col)
        if kind == 'tf_predict':
            return body['inputs'][col], self.rng.randrange(len(body['inputs'][col]))
        t = next(t for t in body['inputs'] if t['name'] == col)
        return t['data'], self.rng.randrange(len(t['data']))

    def text_at_numeric(self, kind, token):
        """A body with a bare token (NaN, 1e400...) where a number goes."""
        body = self.valid(kind)
        cont, key = self.numeric_slot(body, kind)
        cont[key] = '@@TOKEN@@'
        return dumps(body).replace('"@@TOKEN@@"', token)

    def m_truncated(self, kind):
        text = dumps(self.valid(kind))
        return text[:self.rng.randint(1, len(text) - 1)].rstrip()

    def m_empty(self, kind):
        return self.rng.choice(['', ' ', '\r\n', '\t \n'])

    def m_garbage(self, kind):
        n = self.rng.randint(1, 3000)
        b = bytes(self.rng.getrandbits(8) for _ in range(n))
        if b[:1] in (b'{', b'[', b'"') or b[:1].isdigit():
            b = b'\xff' + b
        return b

    def m_non_finite(self, kind):
        return self.text_at_numeric(kind, self.rng.choice(NON_FINITE))

    def m_overflow(self, kind):
        return self.text_at_numeric(kind, self.rng.choice(OVERFLOW))

    def m_deep(self, kind):
        depth = self.rng.choice([40, 64, 200, 1000, 5000, 20000])
        inner = '[' * depth + '1' + ']' * depth
        if kind == 'batch_predict':
            return '[' + inner + ']'
        if kind == 'predict':
            return '{"x1":%s,"x2":1,"flag":true,"colour":"red"}' % inner
        if kind == 'oip_infer':
            return '{"inputs":[{"name":"x1","shape":[1],"datatype":"FP64","data":%s}]}' % inner
        key = 'examples' if kind != 'tf_predict' else self.rng.choice(['instances', 'inputs'])
        return '{"%s":%s}' % (key, inner)

    def m_deep_objects(self, kind):
        depth = self.rng.choice([40, 100, 3000])
        inner = '{"a":' * depth + '1' + '}' * depth
        body = self.valid(kind)
        cont, key = self.numeric_slot(body, kind)
        cont[key] = '@@TOKEN@@'
        return dumps(body).replace('"@@TOKEN@@"', inner)

    def m_giant_string(self, kind):
        n = self.rng.choice([100000, 150000, 240000])
        s = self.rng.choice('abcxyz') * n
        body = self.valid(kind)
        rows = self.rows_of(body, kind)
        if rows is not None:
            self.rng.choice(rows)['colour'] = s
        elif kind == 'oip_infer':
            next(t for t in body['inputs'] if t['name'] == 'colour')['data'][0] = s
        elif 'inputs' in body:
            body['inputs']['colour'][0] = s
        else:
            body['instances'][0][3] = s
        return dumps(body)

    def m_wrong_type(self, kind):
        """A value of a type nothing accepts where a row, column or tensor goes."""
        body = self.valid(kind)
        bad = self.rng.choice([{'a': 1}, [1, [2]], {'b64': 7}, [], {}])
        rows = self.rows_of(body, kind)
        r = self.rng.random()
        if kind == 'predict':
            return dumps(self.rng.choice([[body], 'x', 7, None, True]) if r < 0.4 else dict(body, x1=bad))
        if kind == 'batch_predict':
            return dumps(self.rng.choice([{'rows': body}, 'x', 7, None, [1, 2, 3], ['a']]) if r < 0.4
                         else [dict(body[0], x2=bad)] + body[1:])
        if kind == 'oip_infer':
            t = self.rng.choice(body['inputs'])
            field = self.rng.choice(['data', 'shape', 'name', 'inputs'])
            if field == 'inputs':
                body['inputs'] = self.rng.choice(['x', 7, {'name': 'x1'}, None])
            elif field == 'data':
                t['data'] = self.rng.choice(['abc', 5, {'a': 1}, None])
            elif field == 'shape':
                t['shape'] = self.rng.choice(['2', None, {'n': 1}, [1.5], ['a'], [True]])
            else:
                t['name'] = self.rng.choice([5, None, ['x1'], {'n': 'x1'}])
            return dumps(body)
        key = 'examples' if kind != 'tf_predict' else ('instances' if 'instances' in body else 'inputs')
        if r < 0.35:
            body[key] = self.rng.choice(['abc', 42, None, True] + ([{'x': 1}] if key != 'inputs' else []))
            return dumps(body)
        if rows is not None:
            self.rng.choice(rows)[self.rng.choice(self.columns)] = bad
        elif key == 'inputs':
            body['inputs'][self.rng.choice(self.columns)] = self.rng.choice([{'a': 1}, 'x', 5])
        else:
            body['instances'][0][self.rng.randrange(4)] = bad
        return dumps(body)

    def m_bad_text_number(self, kind):
        """Text that is no number in a numeric column."""
        return self.text_at_numeric(kind, dumps(self.rng.choice(['abc', '1,5', '', '0x', 'one', '1e', '--1'])))

    def m_wrong_shape(self, kind):
        body = self.valid(kind)
        rows = self.rows_of(body, kind)
        if kind == 'oip_infer':
            t = self.rng.choice(body['inputs'])
            choice = self.rng.randrange(4)
            if choice == 0:
                t['shape'] = [len(t['data']) + self.rng.randint(1, 5)]
            elif choice == 1:
                t['shape'] = [-1]
            elif choice == 2:  # one [n, p] tensor with a wrong p
                n = self.rng.randint(1, 3)
                p = self.rng.choice([1, 2, 3, 5, 7])
                body['inputs'] = [{'name': 'input', 'shape': [n, p], 'datatype': 'FP64',
                                   'data': [0.5] * (n * p)}]
            else:  # tensors of different lengths
                t['data'] = t['data'] + t['data'][:1]
                t['shape'] = [len(t['data'])]
            return dumps(body)
        if kind == 'tf_predict' and rows is None:
            if 'inputs' in body:  # columns of different lengths
                c = self.rng.choice(self.columns)
                body['inputs'][c] = body['inputs'][c] + body['inputs'][c][:1]
            else:  # a row list of neither 4 raw values nor 6 features
                body['instances'][0] = body['instances'][0][:self.rng.choice([1, 2, 3])] + (
                    [1.0] * self.rng.choice([0, 3]) if self.rng.random() < 0.5 else [])
                if len(body['instances'][0]) in (4, 6):
                    body['instances'][0].append(1.0)
            return dumps(body)
        if kind == 'predict':
            return dumps([body, body])
        # rows: one row becomes a list of the wrong length or a bare scalar
        i = self.rng.randrange(len(rows))
        rows[i] = self.rng.choice([[1.0, 2.0, 3.0], [1.0] * 5, 3.5, 'row'])
        return dumps(body)

    def m_bad_dtype(self, kind):
        if kind != 'oip_infer':
            return self.m_wrong_type(kind)
        body = self.valid(kind)
        t = self.rng.choice(body['inputs'])
        if self.rng.random() < 0.7:
            t['datatype'] = self.rng.choice(BAD_DTYPES)
        else:  # BYTES that are no number for a numeric column, INT64 holding a fraction
            col = self.rng.choice(NUMERIC)
            t = next(t for t in body['inputs'] if t['name'] == col)
            if self.rng.random() < 0.5:
                t['datatype'], t['data'] = 'BYTES', ['abc'] * len(t['data'])
            else:
                t['datatype'], t['data'] = 'INT64', [1.5] * len(t['data'])
        return dumps(body)

    def m_unknown_name(self, kind):
        """A needed feature renamed, or a top-level key misspelled."""
        body = self.valid(kind)
        rows = self.rows_of(body, kind)
        col = self.rng.choice(self.columns)
        new = self.rng.choice(['nope', col.upper(), col + ' ', 'x9', ''])
        if self.rng.random() < 0.3 and kind not in ('predict', 'batch_predict'):
            key = next(iter(body))
            body[{'instances': 'instance', 'inputs': 'input', 'examples': 'example'}[key]] = body.pop(key)
            return dumps(body)
        if rows is not None:
            r = self.rng.choice(rows)
            r[new] = r.pop(col)
        elif kind == 'oip_infer':
            next(t for t in body['inputs'] if t['name'] == col)['name'] = new
        elif 'inputs' in body:
            body['inputs'][new] = body['inputs'].pop(col)
        else:
            body['instances'] = [dict(zip([new] + self.columns[1:], row)) for row in body['instances']]
        return dumps(body)

    def m_invalid_utf8(self, kind):
        text = dumps(self.valid(kind)).encode('utf-8')
        i = text.find(b'"', self.rng.randrange(len(text)))
        if i < 0:
            i = text.find(b'"')
        return text[:i + 1] + self.rng.choice([b'\xff', b'\xc3\x28', b'\xed\xa0\x80', b'\xf8\x88\x80\x80\x80']) + text[i + 1:]

    def m_oversize(self, kind):
        n = self.rng.randint(self.max_body + 1, self.max_body * 4)
        pad = ' ' * (n - 20)
        return '{"pad":"' + pad + '"}'

    def m_too_many_rows(self, kind):
        n = self.max_batch + self.rng.randint(1, 100)
        rows = [dict(self.rng.choice(self.rows)) for _ in range(n)]
        if kind == 'predict':
            return dumps([rows[0]] * 2)
        if kind == 'batch_predict':
            return dumps(rows)
        if kind == 'oip_infer':
            return dumps({'inputs': [self.tensor(c, [r[c] for r in rows]) for c in self.columns]})
        if kind == 'tf_predict':
            return dumps({'instances': rows})
        return dumps({'examples': rows})

    def m_wrong_top(self, kind):
        """Valid JSON of the wrong kind, or both forms at once."""
        if kind == 'tf_predict' and self.rng.random() < 0.5:
            rows = self.some_rows()
            return dumps({'instances': rows, 'inputs': {c: [r[c] for r in rows] for c in self.columns}})
        if kind == 'oip_infer' and self.rng.random() < 0.5:
            return dumps(self.rng.choice([{'inputs': []}, {'id': '1'}, {'outputs': [{'name': 'label'}]}]))
        opts = ['[]', '[1,2]', '"instances"', '0', 'null', 'true', '{}', '{"signature_name":"serving_default"}']
        if kind == 'batch_predict':
            opts = ['"rows"', '0', 'null', 'true', '{}', '[1]', '[[1,2,3,4,5,6,7]]']
        if kind == 'predict':
            opts = ['[]', '"x"', '0', 'null', '{}', '[{}]']
        return self.rng.choice(opts)

    def m_duplicate_key(self, kind):
        body = self.valid(kind)
        text = dumps(body)
        if kind == 'predict':
            return text[:-1] + ',"x1":"abc","x1":[1]}'
        key = {'batch_predict': None}.get(kind, next(iter(body)) if isinstance(body, dict) else None)
        if key is None:
            return '[' + text[1:-1] + ',{"x1":1,"x1":{"a":1}}]'
        return text[:-1] + ',"%s":"abc"}' % key

    MUTATIONS = ['truncated', 'empty', 'garbage', 'non_finite', 'overflow', 'deep', 'deep_objects',
                 'giant_string', 'wrong_type', 'bad_text_number', 'wrong_shape', 'bad_dtype',
                 'unknown_name', 'invalid_utf8', 'oversize', 'too_many_rows', 'wrong_top', 'duplicate_key']

    def bodies(self, kind, n):
        """n malformed bodies for an endpoint kind: (mutation, bytes), all mutations in turn."""
        out = []
        for i in range(n):
            m = self.MUTATIONS[i % len(self.MUTATIONS)]
            b = getattr(self, 'm_' + m)(kind)
            out.append((m, b if isinstance(b, bytes) else b.encode('utf-8')))
        return out


def b64(s):
    return base64.b64encode(s.encode('utf-8')).decode('ascii')
