#!/usr/bin/python3
"""Benchmark: a new connection's first prediction of a ~1 MB model.

Restarts the cluster (scripts/cluster.sh restart, with the caller's
MF_CLUSTER_DIR/MF_PORT; MF_BENCH_COLD_RESTART=0 skips it), recreates mf_ext in
database mf_cold, trains an MLP 10-360-360-1 regressor (artifact ~1.08 MB) on
2,000 rows, then opens MF_BENCH_COLD_REPEATS (21) new connections per case and
times one statement twice on each: the first run minus the second is what a
new connection pays. The statement is what a client scoring one row runs:
    SELECT mf_predict('<model>', ARRAY[x1, ..., x10]) FROM bench_cold_row
Cases, each on its own new connections, in turn (so a burst of load hits all):
  everything   the statement is the connection's first: loading mf_core and
               its libraries, catalog caches, resolving, fetching and loading
               the model (the issue's "first call on a new connection minus warm")
  library      LOAD 'mf_core' as the first statement (loading alone)
  model        after a first prediction of a small logistic model: the ~1 MB
               model alone (resolving and catalogs are warm)
The restart empties base/pgsql_tmp, where the first backend that loads an
artifact leaves a copy for later backends (src/artifact_file.c): the first
"everything" connection reads mf.artifacts and writes that file, the others
read the file; the medians are those of the later connections.
Besides wall time (medians, ms), the backend's own CPU time
(/proc/<pid>/schedstat) and minor page faults (/proc/<pid>/stat) when this
process may read them (same machine, root or the cluster's owner): on a
shared 2-vCPU machine the wall time also holds other processes' time slices.
Prints one summary line; with MF_BENCH_COLD_JSON=<file>, also writes the
medians there (bench/cold_start.sh compares two builds with it).
"""
import json
import os
import statistics
import subprocess
import time

import psycopg2

import common as c

DB = "mf_cold"
REPEATS = int(os.environ.get("MF_BENCH_COLD_REPEATS", "21"))
COLD = {"name": "bench_cold", "family": "mlp", "task": "regression", "hidden_layers": [360, 360]}
SMALL = {"name": "bench_cold_small", "family": "logistic_regression"}
XS = ", ".join(c.LR_FEATURES)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def connect(dbname=DB):
    """A new autocommit connection to the benchmark database."""
    conn = psycopg2.connect(dbname=dbname)
    conn.autocommit = True
    return conn


def backend_counters(pid):
    """(on-CPU ns, minor faults) of a backend, or None when /proc is not readable."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            cpu = int(f.read().split()[0])
        with open(f"/proc/{pid}/stat") as f:
            faults = int(f.read().rsplit(")", 1)[1].split()[7])
        return cpu, faults
    except (OSError, ValueError, IndexError):
        return None


def timed(conn, pid, sql):
    """(wall ms, cpu ms or None, faults or None) of one statement."""
    before = backend_counters(pid)
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(sql)
        if cur.description:
            cur.fetchall()
    wall = (time.perf_counter() - t0) * 1e3
    after = backend_counters(pid)
    if before is None or after is None:
        return wall, None, None
    return wall, (after[0] - before[0]) / 1e6, after[1] - before[1]


def first_minus_second(stmt, before=None):
    """On a new connection: first run of stmt minus its second run (wall, cpu, faults),
    after the statement `before` when given."""
    conn = connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
            if before:
                cur.execute(before)
        first = timed(conn, pid, stmt)
        second = timed(conn, pid, stmt)
    finally:
        conn.close()
    diff = tuple(None if a is None else a - b for a, b in zip(first, second))
    return {"first": first, "second": second, "diff": diff}


def restart_cluster():
    """Restart the server so that no backend and no shared buffer is warm."""
    if os.environ.get("MF_BENCH_COLD_RESTART", "1") != "1":
        return
    subprocess.run([os.path.join(ROOT, "scripts", "cluster.sh"), "restart"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            connect("postgres").close()
            return
        except psycopg2.OperationalError:
            time.sleep(0.1)
    raise RuntimeError("the cluster did not come back after the restart")


def prepare():
    """Database mf_cold with a fresh mf_ext, the rows and both models; returns (ref, small ref)."""
    admin = connect("postgres")
    if not c.scalar(admin, "SELECT 1 FROM pg_database WHERE datname = %s", (DB,)):
        c.execute(admin, f"CREATE DATABASE {DB}")
    admin.close()
    conn = connect()
    c.execute(conn, "SET client_min_messages = warning")
    c.execute(conn, "DROP EXTENSION IF EXISTS mf_ext CASCADE")
    c.execute(conn, "CREATE EXTENSION mf_ext CASCADE")
    c.ensure_table(conn, "bench_cold_data", 2000, c.lr_select(2000), 0.42)
    c.execute(conn, "DROP TABLE IF EXISTS bench_cold_row")
    c.execute(conn, "CREATE TABLE bench_cold_row AS SELECT * FROM bench_cold_data ORDER BY x1 LIMIT 1")
    src = f"SELECT {XS}, y FROM bench_cold_data"
    ref = c.train_ours(conn, COLD, src, "y", {"epochs": 1, "early_stopping": False, "test_size": 0})
    small = c.train_ours(conn, SMALL, f"SELECT {XS}, label FROM bench_cold_data", "label")
    size = c.scalar(conn, "SELECT a.size_bytes FROM mf.artifacts a JOIN mf.model_versions v USING (version_id) "
                          "JOIN mf.models m USING (model_id) WHERE m.name = %s", (COLD["name"],))
    conn.close()
    return ref, small, size


def median_of(runs, part, i):
    """Median of field i of runs[*][part], or None."""
    vals = [r[part][i] for r in runs if r[part][i] is not None]
    return statistics.median(vals) if vals else None


def main():
    ref, small, size = prepare()
    restart_cluster()
    stmt = f"SELECT mf_predict('{ref}', ARRAY[{XS}]) FROM bench_cold_row"
    warm_small = f"SELECT mf_predict('{small}', ARRAY[{XS}]) FROM bench_cold_row"
    cases = {"everything": (stmt, None), "library": ("LOAD 'mf_core'", None), "model": (stmt, warm_small)}
    runs = {k: [] for k in cases}
    for _ in range(REPEATS):
        for k, (sql, before) in cases.items():
            runs[k].append(first_minus_second(sql, before))
    # a second LOAD of a loaded library does nothing: its first run minus the second is the loading
    out = {"size": size, "repeats": REPEATS}
    for k in cases:
        out[k] = {"wall": median_of(runs[k], "diff", 0), "cpu": median_of(runs[k], "diff", 1),
                  "faults": median_of(runs[k], "diff", 2)}
    out["warm"] = {"wall": median_of(runs["everything"], "second", 0),
                   "cpu": median_of(runs["everything"], "second", 1)}
    if os.environ.get("MF_BENCH_COLD_JSON"):
        with open(os.environ["MF_BENCH_COLD_JSON"], "w") as f:
            json.dump(out, f)

    def fmt(d):
        s = f"{d['wall']:.1f} ms"
        if d.get("cpu") is not None:
            s += f" (backend CPU {d['cpu']:.1f} ms"
            s += f", {d['faults']:.0f} page faults)" if d.get("faults") is not None else ")"
        return s
    print(f"cold start, MLP 10-360-360-1 artifact {size / 1e6:.2f} MB, restarted cluster, medians of {REPEATS} "
          f"new connections: first call minus warm {fmt(out['everything'])} (target <= 5 ms); "
          f"LOAD 'mf_core' alone {fmt(out['library'])}; the model alone {fmt(out['model'])}; "
          f"warm statement {out['warm']['wall']:.2f} ms")


if __name__ == "__main__":
    main()
