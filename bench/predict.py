#!/usr/bin/python3
"""Benchmark: scoring 1M rows x 10 float8 inside SELECT.

array   SELECT sum(mf_predict('m', ARRAY[x1, ..., x10])) FROM bench_lr (the planner
        passes the ten columns as plain arguments: mf._predict_args)
written the same with SET mf.predict_simplify = off: ARRAY built per row
record  SELECT sum(mf_predict('m', t)) FROM bench_lr t (rewritten to mf._predict_cols)
hand    SELECT sum(b + w1*x1 + ... + w10*x10) FROM bench_lr, with the model's own
        weights (mf._model_weights)
build   SELECT sum(array_length(ARRAY[x1, ..., x10], 1)) FROM bench_lr: the cost of
        building the array alone
floor   SELECT sum(x1) FROM bench_lr
peer    psycopg2 COPY (binary) of the rows into numpy + sklearn LinearRegression.predict
        with the same weights: the fastest client route we know; also the plain route,
        cursor.fetchall() into numpy
logit   SELECT sum(mf_predict('logit', ARRAY[...])): logistic regression (trained on
        100k rows of bench_lr_logreg), rows/s
mlp     the same with an MLP 10-64-2 (ReLU), rows/s
batch   mf_predict_batch of the linear, logistic and MLP models on one 100k x 10 float8[][]
        stored in table bench_batch (built once), minus reading that array alone (detoast)
cold    a new connection: the first mf_predict of an MLP 10-360-360-1 (~1 MB artifact)
        minus the same statement warm: everything (loading mf_core, catalog caches, the
        model; scoring rows never loads OpenBLAS), and the model alone (earlier calls
        loaded the rest); and mf_prewarm of that model as a connection's first statement
One backend, no parallel workers (but one array run with the default 2), JIT off;
medians of MF_BENCH_REPEATS runs, the in-database statements run round-robin
(cold start: medians of MF_BENCH_COLD_REPEATS new connections).
Knobs for comparing two builds of mf_ext quickly: MF_BENCH_PREDICT_PEERS=0 skips the
Python routes, MF_BENCH_COLD_REPEATS=0 the cold start.
"""
import json
import os
import statistics
import time

import numpy as np
from sklearn.linear_model import LinearRegression

import common as c

LABEL = f"predict {c.LR_ROWS // 1000000 or c.LR_ROWS}{'M' if c.LR_ROWS >= 1000000 else ''} x 10"
CONFIG = {"name": "bench_predict", "family": "linear_regression", "n_features": 10,
          "alpha": 0.0, "fit_intercept": True}
LOGIT = {"name": "bench_predict_logit", "family": "logistic_regression"}
MLP = {"name": "bench_predict_mlp", "family": "mlp", "hidden_layers": [64]}
COLD = {"name": "bench_predict_cold", "family": "mlp", "task": "regression", "hidden_layers": [360, 360]}
COLD_REPEATS = int(os.environ.get("MF_BENCH_COLD_REPEATS", "7"))
PEERS = os.environ.get("MF_BENCH_PREDICT_PEERS", "1") != "0"
BATCH_ROWS = 100000
XS = ", ".join(c.LR_FEATURES)


def timed(conn, sql):
    """(median seconds, result) of a scalar query."""
    return c.median_time(lambda: c.scalar(conn, sql))


def interleaved(conn, queries):
    """Median seconds and last result of each scalar query, run round-robin
    REPEATS times so that a burst of load on the machine hits them alike.
    queries: name -> (sql, (setup, teardown) or None)."""
    times = {k: [] for k in queries}
    results = {}
    for _ in range(c.REPEATS):
        for k, (sql, env) in queries.items():
            if env:
                c.execute(conn, env[0])
            t0 = time.perf_counter()
            results[k] = c.scalar(conn, sql)
            times[k].append(time.perf_counter() - t0)
            if env:
                c.execute(conn, env[1])
    return {k: statistics.median(v) for k, v in times.items()}, results


def peer(conn, model, split):
    """Fetch the features and predict with sklearn; returns the sum."""
    t0 = time.perf_counter()
    X = c.fetch_numpy(conn, f"SELECT {XS} FROM bench_lr", 10)
    t1 = time.perf_counter()
    s = float(model.predict(X).sum())
    split.append((t1 - t0, time.perf_counter() - t1))
    return s


def peer_fetchall(conn, model):
    """The plain route: cursor.fetchall() into numpy, then predict; returns the sum."""
    with conn.cursor() as cur:
        cur.execute(f"SELECT {XS} FROM bench_lr")
        X = np.array(cur.fetchall(), dtype=np.float64)
    return float(model.predict(X).sum())


def first_call_ms(sql, before=None):
    """On a new connection: (first run of sql, second run) in ms, after `before`."""
    conn = c.connect()
    try:
        if before:
            c.scalar(conn, before)
        t0 = time.perf_counter()
        c.scalar(conn, sql)
        t1 = time.perf_counter()
        c.scalar(conn, sql)
        t2 = time.perf_counter()
    finally:
        conn.close()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3


def cold_start(conn):
    """Median first-call latency (ms) of the ~1 MB model on new connections."""
    ref = c.train_ours(conn, COLD, "SELECT x1, x2, x3, x4, x5, x6, x7, x8, x9, x10, y FROM bench_lr LIMIT 2000",
                       "y", {"epochs": 1, "early_stopping": False, "test_size": 0})
    size = c.scalar(conn, "SELECT a.size_bytes FROM mf.artifacts a WHERE a.version_id = "
                          "(SELECT version_id FROM mf._resolve(%s))", (ref,))
    # one row of a table: the statement a client scoring one row would run
    c.execute(conn, "DROP TABLE IF EXISTS bench_cold_row")
    c.execute(conn, "CREATE TABLE bench_cold_row AS SELECT * FROM bench_lr LIMIT 1")
    stmt = f"SELECT mf_predict('{ref}', ARRAY[{XS}]) FROM bench_cold_row"
    lib = [first_call_ms(stmt) for _ in range(COLD_REPEATS)]
    warm_up = ("SELECT mf._build_info(); "
               "SELECT mf_predict('bench_predict_logit', ARRAY[0,0,0,0,0,0,0,0,0,0]::float8[])")
    model = [first_call_ms(stmt, before=warm_up) for _ in range(COLD_REPEATS)]
    pre = [first_call_ms(f"SELECT mf_prewarm('{ref}')") for _ in range(COLD_REPEATS)]
    med = statistics.median
    return {"size": size, "library": med(a - b for a, b in lib), "model": med(a - b for a, b in model),
            "warm": med(b for _, b in model), "prewarm": med(a for a, _ in pre)}


def batch(conn, refs):
    """Median seconds of mf_predict_batch per model over bench_batch, and of the
    same statement reading the array alone; the sums of the predictions."""
    if not c.scalar(conn, "SELECT to_regclass('bench_batch') IS NOT NULL"):
        c.execute(conn, f"CREATE TABLE bench_batch AS SELECT array_agg(ARRAY[{XS}] ORDER BY x1) AS x "
                        f"FROM (SELECT {XS} FROM bench_lr LIMIT {BATCH_ROWS}) s")
    queries = {"read": ("SELECT array_length(x, 1)::float8 FROM bench_batch", None)}
    for name, ref in refs.items():
        queries[name] = (f"SELECT (SELECT sum(v) FROM unnest(mf_predict_batch('{ref}', x)) v) FROM bench_batch",
                         None)
    return interleaved(conn, queries)


def main():
    conn = c.connect()
    c.ensure_lr_data(conn)
    if not c.has_function(conn, "mf_predict(text,float8[])"):
        print(f"{LABEL}: mf_predict n/a")
        return
    ref = c.train_ours(conn, CONFIG, "bench_lr_linreg", "y")
    w = c.scalar(conn, "SELECT mf._model_weights(%s)", (ref,))
    w = w if isinstance(w, dict) else json.loads(w)
    coef, b = w["coef"], w["intercept"][0]
    c.execute(conn, "SET max_parallel_workers_per_gather = 0")
    c.execute(conn, "SET jit = off")
    c.execute(conn, "SELECT mf_prewarm(%s)", (ref,))

    hand_expr = " + ".join([repr(b)] + [f"{wj!r} * {x}" for wj, x in zip(coef, c.LR_FEATURES)])
    arr = f"SELECT sum(mf_predict('{ref}', ARRAY[{XS}])) FROM bench_lr"
    rec = f"SELECT sum(mf_predict('{ref}', t)) FROM bench_lr t"
    off = ("SET mf.predict_simplify = off", "RESET mf.predict_simplify")
    par = ("RESET max_parallel_workers_per_gather", "SET max_parallel_workers_per_gather = 0")
    t, r = interleaved(conn, {
        "floor": ("SELECT sum(x1) FROM bench_lr", None),
        "build": (f"SELECT sum(array_length(ARRAY[{XS}], 1)) FROM bench_lr", None),
        "hand": (f"SELECT sum({hand_expr}) FROM bench_lr", None),
        "array": (arr, None),
        "record": (rec, None),
        "written": (arr, off),
        "written_rec": (rec, off),
        # the same statement with the server's default parallel settings (2 workers), end to end
        "array_par": (arr, par),
    })
    t_floor, t_build, t_hand, t_array, t_record = t["floor"], t["build"], t["hand"], t["array"], t["record"]
    t_written, t_written_rec, t_array_par = t["written"], t["written_rec"], t["array_par"]
    s_hand, s_array, s_record, s_written, s_array_par = r["hand"], r["array"], r["record"], r["written"], r["array_par"]

    model = LinearRegression()
    model.coef_, model.intercept_ = np.array(coef), b
    model.n_features_in_ = 10
    split = []
    if PEERS:
        t_peer, s_peer = c.median_time(lambda: peer(conn, model, split))
        t_peer_rows, s_peer_rows = c.median_time(lambda: peer_fetchall(conn, model))
        fetch = sorted(s[0] for s in split)[len(split) // 2]
        pred = sorted(s[1] for s in split)[len(split) // 2]
    else:
        t_peer = t_peer_rows = fetch = pred = float("nan")
        s_peer = s_peer_rows = s_hand

    # logistic regression and MLP: rows per second of the array form
    opts = {"max_rows": 100000}
    logit = c.train_ours(conn, LOGIT, "bench_lr_logreg", "label", opts)
    mlp = c.train_ours(conn, MLP, "bench_lr_logreg", "label", dict(opts, epochs=2, early_stopping=False))
    for r in (logit, mlp):
        c.execute(conn, "SELECT mf_prewarm(%s)", (r,))
    t_logit, _ = timed(conn, f"SELECT sum(mf_predict('{logit}', ARRAY[{XS}])) FROM bench_lr")
    t_logit_p, _ = timed(conn, f"SELECT sum((mf_predict_proba('{logit}', ARRAY[{XS}]))[2]) FROM bench_lr")
    t_mlp, _ = timed(conn, f"SELECT sum(mf_predict('{mlp}', ARRAY[{XS}])) FROM bench_lr")
    t_batch, _ = batch(conn, {"linear": ref, "logistic": logit, "mlp": mlp})
    cold = cold_start(conn) if COLD_REPEATS > 0 else None

    n = c.LR_ROWS
    ns = lambda t: (t - t_floor) / n * 1e9  # noqa: E731
    agree = all(abs(s - s_hand) <= 1e-6 * max(1.0, abs(s_hand))
                for s in (s_array, s_record, s_peer, s_peer_rows, s_written, s_array_par))
    print(f"{LABEL}: linear mf_predict array {t_array:.3f} s, record {t_record:.3f} s; "
          f"hand-written SQL {t_hand:.3f} s (array/hand {t_array / t_hand:.2f}x, "
          f"record/hand {t_record / t_hand:.2f}x, record/array {t_record / t_array:.2f}x); "
          f"as written (mf.predict_simplify off) array {t_written:.3f} s, record {t_written_rec:.3f} s; "
          f"ARRAY build alone {t_build:.3f} s; floor sum(x1) {t_floor:.3f} s "
          f"(over floor per row: array {ns(t_array):.0f} ns, hand {ns(t_hand):.0f} ns, record {ns(t_record):.0f} ns, "
          f"as written {ns(t_written):.0f} ns); "
          f"sklearn+psycopg2 {t_peer:.3f} s (fetch {fetch:.3f} s, predict {pred:.3f} s; "
          f"{t_peer / t_array:.1f}x slower than array on one core; array with 2 parallel workers {t_array_par:.3f} s, "
          f"{t_peer / t_array_par:.1f}x); sklearn+psycopg2 through cursor.fetchall() {t_peer_rows:.3f} s "
          f"({t_peer_rows / t_array:.1f}x slower than array); sums agree: {'yes' if agree else 'NO'}")
    print(f"{LABEL}: logistic mf_predict {t_logit:.3f} s = {n / t_logit / 1e6:.2f} M rows/s, "
          f"mf_predict_proba {t_logit_p:.3f} s = {n / t_logit_p / 1e6:.2f} M rows/s; "
          f"MLP 10-64-2 {t_mlp:.3f} s = {n / t_mlp / 1e6:.2f} M rows/s")
    tb = {k: v - t_batch["read"] for k, v in t_batch.items()}
    print(f"{LABEL}: mf_predict_batch of {BATCH_ROWS // 1000}k rows (one float8[][]) minus reading the array "
          f"({t_batch['read'] * 1e3:.1f} ms): linear {tb['linear'] * 1e3:.1f} ms, logistic {tb['logistic'] * 1e3:.1f} ms, "
          f"MLP 10-64-2 {tb['mlp'] * 1e3:.1f} ms")
    if cold is None:
        return
    print(f"{LABEL}: cold start, MLP 10-360-360-1 artifact {cold['size'] / 1e6:.2f} MB: first call on a new "
          f"connection minus warm {cold['library']:.1f} ms (everything: loading mf_core, catalog caches, the "
          f"model; scoring rows needs no OpenBLAS), {cold['model']:.1f} ms (the model alone: mf_core and "
          f"OpenBLAS loaded and catalogs cached by earlier calls); "
          f"warm statement {cold['warm']:.2f} ms; mf_prewarm as the first statement of a new connection "
          f"{cold['prewarm']:.1f} ms")


if __name__ == "__main__":
    main()
