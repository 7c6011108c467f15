#!/usr/bin/python3
"""Benchmark: scoring 1M rows x 10 float8 inside SELECT.

array   SELECT sum(mf_predict('m', ARRAY[x1, ..., x10])) FROM bench_lr
record  SELECT sum(mf_predict('m', t)) FROM bench_lr t
hand    SELECT sum(b + w1*x1 + ... + w10*x10) FROM bench_lr, with the model's own
        weights (mf._model_weights)
build   SELECT sum(array_length(ARRAY[x1, ..., x10], 1)) FROM bench_lr: the cost of
        building the array alone
floor   SELECT sum(x1) FROM bench_lr
peer    psycopg2 COPY of the rows into numpy + sklearn LinearRegression.predict with
        the same weights
One backend, no parallel workers, JIT off; medians of MF_BENCH_REPEATS runs.
"""
import json
import time

import numpy as np
from sklearn.linear_model import LinearRegression

import common as c

LABEL = f"predict {c.LR_ROWS // 1000000 or c.LR_ROWS}{'M' if c.LR_ROWS >= 1000000 else ''} x 10"
CONFIG = {"name": "bench_predict", "family": "linear_regression", "n_features": 10,
          "alpha": 0.0, "fit_intercept": True}
XS = ", ".join(c.LR_FEATURES)


def timed(conn, sql):
    """(median seconds, result) of a scalar query."""
    return c.median_time(lambda: c.scalar(conn, sql))


def peer(conn, model, split):
    """Fetch the features and predict with sklearn; returns the sum."""
    t0 = time.perf_counter()
    X = c.fetch_numpy(conn, f"SELECT {XS} FROM bench_lr", 10)
    t1 = time.perf_counter()
    s = float(model.predict(X).sum())
    split.append((t1 - t0, time.perf_counter() - t1))
    return s


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
    t_floor, _ = timed(conn, "SELECT sum(x1) FROM bench_lr")
    t_build, _ = timed(conn, f"SELECT sum(array_length(ARRAY[{XS}], 1)) FROM bench_lr")
    t_hand, s_hand = timed(conn, f"SELECT sum({hand_expr}) FROM bench_lr")
    t_array, s_array = timed(conn, f"SELECT sum(mf_predict('{ref}', ARRAY[{XS}])) FROM bench_lr")
    t_record, s_record = timed(conn, f"SELECT sum(mf_predict('{ref}', t)) FROM bench_lr t")

    model = LinearRegression()
    model.coef_, model.intercept_ = np.array(coef), b
    model.n_features_in_ = 10
    split = []
    t_peer, s_peer = c.median_time(lambda: peer(conn, model, split))
    fetch = sorted(s[0] for s in split)[len(split) // 2]
    pred = sorted(s[1] for s in split)[len(split) // 2]

    agree = all(abs(s - s_hand) <= 1e-6 * max(1.0, abs(s_hand)) for s in (s_array, s_record, s_peer))
    print(f"{LABEL}: mf_predict array {t_array:.3f} s, record {t_record:.3f} s; "
          f"hand-written SQL {t_hand:.3f} s (array/hand {t_array / t_hand:.2f}x, "
          f"record/hand {t_record / t_hand:.2f}x); ARRAY build alone {t_build:.3f} s; "
          f"floor sum(x1) {t_floor:.3f} s (array/floor {t_array / t_floor:.2f}x); "
          f"sklearn+psycopg2 {t_peer:.3f} s (fetch {fetch:.3f} s, predict {pred:.3f} s; "
          f"{t_peer / t_array:.1f}x slower than array); sums agree: {'yes' if agree else 'NO'}")


if __name__ == "__main__":
    main()
