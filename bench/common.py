"""Shared helpers of the mf_ext benchmarks (bench/train_*.py).

Every benchmark measures both sides in the same run, on the same rows of the
private cluster: "ours" is mf_ext inside the server (mf_create_model +
mf_train), the "peer" is the usual Python route (psycopg2 + scikit-learn or
PyTorch). Each side runs REPEATS times; the median wall time is reported.
Connection settings come from the PG* environment (bench/run.sh exports them
from scripts/cluster.sh env).
"""
import io
import json
import os
import statistics
import time

import numpy as np
import psycopg2

REPEATS = int(os.environ.get("MF_BENCH_REPEATS", "3"))
MF_TRAIN_SIG = "mf_train(text,text,text,jsonb)"
MF_EVALUATE_SIG = "mf_evaluate(text,text,text)"


def connect():
    """An autocommit connection: every statement is its own transaction."""
    conn = psycopg2.connect("")
    conn.autocommit = True
    return conn


def scalar(conn, sql, args=None):
    """The first column of the first row of a query."""
    with conn.cursor() as cur:
        cur.execute(sql, args)
        row = cur.fetchone()
    return row[0] if row else None


def execute(conn, sql, args=None):
    """Run a statement, discarding any result."""
    with conn.cursor() as cur:
        cur.execute(sql, args)


def median_time(fn, repeats=REPEATS):
    """Run fn() `repeats` times; return (median seconds, last result)."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def has_function(conn, signature):
    """True when a function with this signature exists in the database."""
    return scalar(conn, "SELECT to_regprocedure(%s) IS NOT NULL", (signature,))


def mf_train_available(conn):
    """True when mf_ext is installed here and has mf_train."""
    return has_function(conn, MF_TRAIN_SIG)


# One standard normal draw per evaluation (Box-Muller over random()).
NORMAL_SQL = "sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())"

# bench_lr: 10 uniform features in [-1, 1), a known linear rule, noise.
LR_FEATURES = [f"x{i}" for i in range(1, 11)]
LR_WEIGHTS = [1.0, -2.0, 0.5, 1.5, -1.0, 0.8, -0.3, 2.0, -1.2, 0.7]
LR_BIAS = 0.25
LR_ROWS = int(os.environ.get("MF_BENCH_LR_ROWS", "1000000"))
LR_TEST_ROWS = 100000


def lr_select(n_rows):
    """SELECT of bench_lr rows: label = (linear + 0.5 N(0,1) > 0) as 0/1,
    y = linear + 0.1 N(0,1). OFFSET 0 keeps each draw evaluated once."""
    xs = ", ".join(f"2 * random() - 1 AS {c}" for c in LR_FEATURES)
    cols = ", ".join(LR_FEATURES)
    lin = " + ".join([repr(LR_BIAS)] + [f"{w!r} * {c}" for w, c in zip(LR_WEIGHTS, LR_FEATURES)])
    return (f"SELECT {cols}, (lin + 0.5 * n1 > 0)::int AS label, lin + 0.1 * n2 AS y "
            f"FROM (SELECT {cols}, {lin} AS lin, {NORMAL_SQL} AS n1, {NORMAL_SQL} AS n2 "
            f"FROM (SELECT {xs} FROM generate_series(1, {n_rows}) OFFSET 0) a OFFSET 0) b")


def ensure_lr_data(conn):
    """Tables bench_lr (train) and bench_lr_test, and per-task views:
    bench_lr_logreg[_test] (x1..x10, label), bench_lr_linreg[_test] (x1..x10, y)."""
    ensure_table(conn, "bench_lr", LR_ROWS, lr_select(LR_ROWS), 0.42)
    ensure_table(conn, "bench_lr_test", LR_TEST_ROWS, lr_select(LR_TEST_ROWS), -0.42)
    cols = ", ".join(LR_FEATURES)
    for suffix in ("", "_test"):
        execute(conn, f"CREATE OR REPLACE VIEW bench_lr_logreg{suffix} AS "
                      f"SELECT {cols}, label FROM bench_lr{suffix}")
        execute(conn, f"CREATE OR REPLACE VIEW bench_lr_linreg{suffix} AS "
                      f"SELECT {cols}, y FROM bench_lr{suffix}")


def ensure_table(conn, name, n_rows, select_sql, seed):
    """Create table `name` from select_sql with setseed(seed), unless it
    already holds n_rows rows (MF_BENCH_REGEN=1 forces a rebuild). The
    generator is a single-process INSERT over generate_series, so the same
    seed gives the same rows on every machine and run."""
    exists = scalar(conn, "SELECT to_regclass(%s) IS NOT NULL", (name,))
    if exists and os.environ.get("MF_BENCH_REGEN") != "1":
        if scalar(conn, f"SELECT count(*) FROM {name}") == n_rows:
            return False
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name} CASCADE")
        cur.execute("SELECT setseed(%s)", (seed,))
        cur.execute(f"CREATE TABLE {name} AS {select_sql}")
        cur.execute(f"ANALYZE {name}")
    print(f"  generated {name}: {n_rows} rows in {time.perf_counter() - t0:.1f} s")
    return True


def fetch_numpy(conn, query, n_cols):
    """Rows of a query through psycopg2 into an (n, n_cols) float64 array.

    The fastest route we know with psycopg2: COPY ... (FORMAT binary), whose
    tuples of n_cols non-null float8 fields have a fixed size, so numpy reads
    them with one structured dtype, no text parsing (COPY text + np.loadtxt
    or cursor.fetchall() are 2-3x slower here). Columns are cast to float8.
    """
    buf = io.BytesIO()
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM ({query}) q LIMIT 0")
        cols = ", ".join(f'q."{d.name}"::float8' for d in cur.description)
        if len(cur.description) != n_cols:
            raise ValueError(f"expected {n_cols} columns, got {len(cur.description)}")
        cur.copy_expert(f"COPY (SELECT {cols} FROM ({query}) q) TO STDOUT (FORMAT binary)", buf)
    raw = buf.getbuffer()
    header = 19 + int.from_bytes(raw[15:19], "big")   # signature, flags, extension
    fields = [("n", ">i2")]
    for j in range(n_cols):
        fields += [(f"l{j}", ">i4"), (f"v{j}", ">f8")]
    tup = np.dtype(fields)
    body = len(raw) - header - 2                       # trailer: int16 -1
    if body % tup.itemsize:
        raise ValueError("unexpected COPY binary layout (NULLs?)")
    rec = np.frombuffer(raw, dtype=tup, count=body // tup.itemsize, offset=header)
    if rec.size and ((rec["n"] != n_cols).any() or
                     any((rec[f"l{j}"] != 8).any() for j in range(n_cols))):
        raise ValueError("unexpected COPY binary tuple (NULLs?)")
    out = np.empty((rec.size, n_cols), dtype=np.float64)
    for j in range(n_cols):
        out[:, j] = rec[f"v{j}"]
    return out


def floor_time(conn, table, cols):
    """Median time of one aggregate pass over the columns (no parallel
    workers, like a single training backend): what merely reading costs."""
    execute(conn, "SET max_parallel_workers_per_gather = 0")
    sums = ", ".join(f"sum({c})" for c in cols)
    t, _ = median_time(lambda: scalar(conn, f"SELECT {sums} FROM {table}"))
    execute(conn, "RESET max_parallel_workers_per_gather")
    return t


def drop_model(conn, name):
    """Drop a model of the registry if it exists (mf_ext installed)."""
    if scalar(conn, "SELECT to_regclass('mf.models') IS NOT NULL") and \
            scalar(conn, "SELECT 1 FROM mf.models WHERE name = %s", (name,)):
        execute(conn, "SELECT mf_drop_model(%s)", (name,))


def train_ours(conn, config, source, target, options=None):
    """Drop, create and train a model in the server; return the ref to use.
    Timed by the caller, so this is exactly what a user would run."""
    drop_model(conn, config["name"])
    ref = scalar(conn, "SELECT mf_create_model(%s::jsonb)", (json.dumps(config),))
    out = scalar(conn, "SELECT mf_train(%s, %s, %s, %s::jsonb)",
                 (ref, source, target, json.dumps(options or {})))
    # mf_train returns text; use it as the ref when it looks like one
    if isinstance(out, str) and ":" in out and " " not in out:
        return out
    return ref


def evaluate_ours(conn, ref, source, target):
    """mf_evaluate's jsonb as a dict, or {} when it is not there yet."""
    if not has_function(conn, MF_EVALUATE_SIG):
        return {}
    res = scalar(conn, "SELECT mf_evaluate(%s, %s, %s)", (ref, source, target))
    return res if isinstance(res, dict) else json.loads(res or "{}")


def model_metrics(conn, ref):
    """The metrics object of a model version."""
    res = scalar(conn, "SELECT mf_get_model(%s) -> 'metrics'", (ref,))
    return res if isinstance(res, dict) else json.loads(res or "{}")


def fmt_metric(d, *keys):
    """First of keys present in d, formatted, else 'n/a'."""
    for k in keys:
        if isinstance(d, dict) and isinstance(d.get(k), (int, float)):
            return f"{d[k]:.4f}"
    return "n/a"


def not_available_line(label, peer_desc):
    """The summary when mf_train is missing: the peer is still measured."""
    return f"{label}: mf_ext n/a (mf_train not available), {peer_desc}"
