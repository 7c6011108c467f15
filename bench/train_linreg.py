#!/usr/bin/python3
"""Benchmark: linear regression on 1M rows x 10 float8 features.

ours   SELECT mf_create_model(...); SELECT mf_train(ref, 'bench_lr_linreg', 'y')
peer   psycopg2 COPY of the same rows into numpy + sklearn LinearRegression fit
floor  SELECT sum(x1), ..., sum(x10) FROM bench_lr
R^2 of both on bench_lr_test.
"""
import time

from sklearn.linear_model import LinearRegression

import common as c

LABEL = f"linreg {c.LR_ROWS // 1000000 or c.LR_ROWS}{'M' if c.LR_ROWS >= 1000000 else ''} x 10"
CONFIG = {"name": "bench_linreg", "family": "linear_regression", "n_features": 10,
          "alpha": 0.0, "fit_intercept": True}
COLS = ", ".join(c.LR_FEATURES + ["y"])


def peer(conn, split):
    """Fetch + fit; split is recorded for the breakdown."""
    t0 = time.perf_counter()
    data = c.fetch_numpy(conn, f"SELECT {COLS} FROM bench_lr_linreg", 11)
    t1 = time.perf_counter()
    model = LinearRegression().fit(data[:, :10], data[:, 10])
    split.append((t1 - t0, time.perf_counter() - t1))
    return model


def main():
    conn = c.connect()
    c.ensure_lr_data(conn)
    floor = c.floor_time(conn, "bench_lr", c.LR_FEATURES)

    split = []
    t_peer, model = c.median_time(lambda: peer(conn, split))
    test = c.fetch_numpy(conn, f"SELECT {COLS} FROM bench_lr_linreg_test", 11)
    r2_peer = model.score(test[:, :10], test[:, 10])
    fetch = sorted(s[0] for s in split)[len(split) // 2]
    fit = sorted(s[1] for s in split)[len(split) // 2]
    peer_desc = (f"sklearn+psycopg2 {t_peer:.2f} s (fetch {fetch:.2f} s, fit {fit:.2f} s), "
                 f"r2 {r2_peer:.4f}")

    if not c.mf_train_available(conn):
        print(c.not_available_line(LABEL, peer_desc) + f"; floor {floor:.2f} s")
        return
    t_ours, ref = c.median_time(lambda: c.train_ours(conn, CONFIG, "bench_lr_linreg", "y"))
    r2_ours = c.fmt_metric(c.evaluate_ours(conn, ref, "bench_lr_linreg_test", "y"), "r2")
    print(f"{LABEL}: mf_ext {t_ours:.2f} s, {peer_desc}, ratio {t_peer / t_ours:.1f}x; "
          f"floor {floor:.2f} s ({t_ours / floor:.1f}x); "
          f"mf_ext trained on {c.model_metrics(conn, ref).get('train_rows', '?')} rows, r2 {r2_ours}")


if __name__ == "__main__":
    main()
