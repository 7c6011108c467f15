#!/usr/bin/python3
"""Benchmark: logistic regression on 1M rows x 10 float8 features.

ours   SELECT mf_create_model(...); SELECT mf_train(ref, 'bench_lr_logreg', 'label')
       with the default solver "auto" (Newton for this binary 10-feature problem:
       the figure the targets are judged on), and the same with solver "lbfgs"
       for reference
peer   psycopg2 COPY of the same rows into numpy + sklearn LogisticRegression(lbfgs)
       fit, end to end
floor  SELECT sum(x1), ..., sum(x10) FROM bench_lr (one pass over the data)
Accuracy of both on bench_lr_test (100k rows of the same rule, other seed).
"""
import time

import numpy as np
from sklearn.linear_model import LogisticRegression

import common as c

LABEL = f"logreg {c.LR_ROWS // 1000000 or c.LR_ROWS}{'M' if c.LR_ROWS >= 1000000 else ''} x 10"
CONFIG = {"name": "bench_logreg", "family": "logistic_regression", "num_classes": 2,
          "n_features": 10, "C": 1.0, "max_iter": 100}
CONFIG_LBFGS = dict(CONFIG, name="bench_logreg_lbfgs", solver="lbfgs")
COLS = ", ".join(c.LR_FEATURES + ["label"])


def peer(conn, split):
    """Fetch + fit; split is recorded for the breakdown."""
    t0 = time.perf_counter()
    data = c.fetch_numpy(conn, f"SELECT {COLS} FROM bench_lr_logreg", 11)
    t1 = time.perf_counter()
    model = LogisticRegression(solver="lbfgs", C=1.0, max_iter=100)
    model.fit(data[:, :10], data[:, 10].astype(np.int64))
    split.append((t1 - t0, time.perf_counter() - t1))
    return model


def main():
    conn = c.connect()
    c.ensure_lr_data(conn)
    floor = c.floor_time(conn, "bench_lr", c.LR_FEATURES)

    split = []
    t_peer, model = c.median_time(lambda: peer(conn, split))
    test = c.fetch_numpy(conn, f"SELECT {COLS} FROM bench_lr_logreg_test", 11)
    acc_peer = model.score(test[:, :10], test[:, 10].astype(np.int64))
    fetch = sorted(s[0] for s in split)[len(split) // 2]
    fit = sorted(s[1] for s in split)[len(split) // 2]
    peer_desc = (f"sklearn+psycopg2 {t_peer:.2f} s (fetch {fetch:.2f} s, fit {fit:.2f} s), "
                 f"accuracy {acc_peer:.4f}")

    if not c.mf_train_available(conn):
        print(c.not_available_line(LABEL, peer_desc) + f"; floor {floor:.2f} s")
        return
    t_ours, ref = c.median_time(
        lambda: c.train_ours(conn, CONFIG, "bench_lr_logreg", "label"))
    acc_ours = c.fmt_metric(c.evaluate_ours(conn, ref, "bench_lr_logreg_test", "label"),
                            "accuracy")
    t_lbfgs, ref_lbfgs = c.median_time(
        lambda: c.train_ours(conn, CONFIG_LBFGS, "bench_lr_logreg", "label"))
    acc_lbfgs = c.fmt_metric(c.evaluate_ours(conn, ref_lbfgs, "bench_lr_logreg_test", "label"),
                             "accuracy")
    print(f"{LABEL}: mf_ext (auto = newton) {t_ours:.2f} s, {peer_desc}, ratio {t_peer / t_ours:.1f}x; "
          f"floor {floor:.2f} s ({t_ours / floor:.1f}x); "
          f"mf_ext trained on {c.model_metrics(conn, ref).get('train_rows', '?')} rows, accuracy {acc_ours}; "
          f"mf_ext (lbfgs) {t_lbfgs:.2f} s (ratio {t_peer / t_lbfgs:.1f}x, floor {t_lbfgs / floor:.1f}x), "
          f"accuracy {acc_lbfgs}")


if __name__ == "__main__":
    main()
