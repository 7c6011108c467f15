#!/usr/bin/python3
"""Benchmark: serving one logistic model over HTTP, three doors, same run.

  mf-serve   the standalone server (--threads = cores) on the model exported
             from the registry (TF Serving layout, test/integration/serve/
             export_model.sh), POST /v1/models/m:predict
  flask      Flask + scikit-learn under gunicorn (one sync worker per core,
             bench/serve_peer.py) with the SAME coefficients, intercepts,
             standardization and labels, read from our artifact
             (mf._model_weights + the version's feature schema) into a
             StandardScaler -> LogisticRegression pipeline: nothing is
             trained twice, so both compute the same function (checked:
             same labels, probabilities within 1e-12)
  pgbench    one `SELECT mf_predict_label(m, x), mf_predict_proba(m, x)` per
             request through libpq (pgbench -M simple: the rows travel in the
             statement text and are parsed every time, as an HTTP body is;
             a prepared statement would send them once)
  http-worker  the in-database HTTP worker (mf.http_workers = cores), which
             serves the model through mf_deploy: started here when this
             database is mf.database (bench/serve.sh runs in a cluster of its
             own where it is), or MF_BENCH_HTTP_WORKER_URL; else "n/a"
  floor      bench/http_floor.c (latency runs, one row): a blocking C server
             that reads each request and answers a constant of the size of
             mf-serve's answer, nothing else: the p99 that loopback, the
             scheduler and wrk give any server on this machine
For mf-serve the latency runs also read its own request-duration histogram
(GET /metrics, before and after): the share of requests the server itself
took over 1 ms, and the bucket holding its p99, apart from wrk's round trip.
MF_BENCH_SERVE_BEFORE=/path/to/another/mf-serve adds the door "mf-serve-before"
(the same model and flags), so a change is measured against the build
before it in the same run.
Besides requests/s and latency, each HTTP door's server CPU time per
request is read from /proc (utime + stime of the server's processes over
the wrk run): a figure that the machine's load disturbs much less than
requests/s (wrk and the other helpers' work share the cores).
Loads: `wrk` on loopback with the body of one row and of 100 rows, at
MF_BENCH_SERVE_CONNS connections (default 16, two wrk threads: throughput)
and at one connection (latency without queueing); pgbench the same with
clients.  Each run lasts MF_BENCH_SERVE_SECONDS (default 5); every door runs
MF_BENCH_SERVE_ROUNDS times (default 3) per load, the doors taking turns, and
each figure is the median of its rounds (the ratios of the target are also
printed per round).  Prints the
table, the ratios, and a markdown block for bench/RESULTS.md.
"""
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
SECONDS = int(os.environ.get("MF_BENCH_SERVE_SECONDS", "5"))
ROUNDS = int(os.environ.get("MF_BENCH_SERVE_ROUNDS", "3"))
CONNS = int(os.environ.get("MF_BENCH_SERVE_CONNS", "16"))
CORES = os.cpu_count() or 1
MODEL = "bench_serve_logit"
ROWS = 20000
P = 10


def psql(sql):
    """One value (psql -tA) from the benchmark database."""
    out = subprocess.run([PG_BIN + "/psql", "-X", "-q", "-tA", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("psql: %s\n%s" % (sql[:200], out.stderr))
    return out.stdout.strip()


def mf_serve_binary():
    for c in (os.environ.get("MF_SERVE"), subprocess.run([PG_BIN + "/pg_config", "--bindir"], capture_output=True,
                                                         text=True).stdout.strip() + "/mf-serve",
              ROOT + "/build/mf-serve"):
        if c and os.access(c, os.X_OK):
            return c
    raise RuntimeError("mf-serve not found: make install builds and installs it")


def prepare(work):
    """Train the model on fresh rows, export it, and write the peer's weights."""
    psql("SET client_min_messages = warning; DROP TABLE IF EXISTS bench_serve; "
         "CREATE TABLE bench_serve AS SELECT i, " +
         ", ".join("((i * %d) %% 1009) / 504.5 - 1 AS x%d" % (7 + 6 * k, k + 1) for k in range(P)) +
         ", CASE WHEN ((i * 7) %% 1009) / 504.5 - ((i * 13) %% 1009) / 1009.0 + ((i * 31) %% 97) / 194.0 > 0.3"
         " THEN 'yes' ELSE 'no' END AS y FROM generate_series(1, %d) i" % ROWS)
    psql("SELECT mf_drop_model(name) FROM mf.models WHERE name = '%s'" % MODEL)
    psql("SELECT mf_create_model('{\"name\": \"%s\", \"family\": \"logistic_regression\"}')" % MODEL)
    cols = ", ".join("x%d" % (k + 1) for k in range(P))
    psql("SELECT mf_train('%s', 'SELECT %s, y FROM bench_serve', 'y', '{}')" % (MODEL, cols))
    models = os.path.join(work, "models")
    subprocess.run([ROOT + "/test/integration/serve/export_model.sh", models, MODEL], check=True,
                   stdout=subprocess.DEVNULL)
    fs = json.loads(psql("SELECT feature_schema FROM mf.catalog c JOIN mf.model_versions v USING (version_id)"
                         " WHERE c.model = '%s'" % MODEL))
    w = json.loads(psql("SELECT mf._model_weights('%s')" % MODEL))
    peer = dict(coef=w["coef"], intercept=w["intercept"], labels=fs["labels"], features=fs["features"],
                means=fs.get("means"), stds=fs.get("stds"), standardize=fs.get("standardize", False))
    with open(os.path.join(work, "peer_model.json"), "w") as f:
        json.dump(peer, f)
    rows = json.loads(psql("SELECT json_agg(json_build_array(%s) ORDER BY i) FROM (SELECT * FROM bench_serve"
                           " ORDER BY i LIMIT 100) s" % cols))
    return models, rows


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_http(url, proc, limit=30):
    t0 = time.time()
    while time.time() - t0 < limit:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (proc.args[0], proc.returncode))
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("%s did not answer in %d s" % (url, limit))


def post(url, body):
    req = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=10).read())


def start_mf_serve(work, models, binary, name):
    """One mf-serve on a free port: (url, process)."""
    port = free_port()
    log = open(os.path.join(work, name + ".log"), "w")
    p = subprocess.Popen([binary, "--model-base-path", models, "--host", "127.0.0.1", "--port", str(port),
                          "--threads", str(CORES), "--max-batch", "1000"], stdout=log, stderr=subprocess.STDOUT)
    wait_http("http://127.0.0.1:%d/v2/health/ready" % port, p)
    return ("http://127.0.0.1:%d/v1/models/%s:predict" % (port, MODEL), p)


def start_doors(work, models, rows, doors):
    """mf-serve, gunicorn and the others on free ports, into doors {name: (url, process)} as each starts
    (so that the caller stops those started when a later one fails)."""
    doors["mf-serve"] = start_mf_serve(work, models, mf_serve_binary(), "mf-serve")
    if os.environ.get("MF_BENCH_SERVE_BEFORE"):
        doors["mf-serve-before"] = start_mf_serve(work, models, os.environ["MF_BENCH_SERVE_BEFORE"], "mf-serve-before")
    port = free_port()
    log = open(os.path.join(work, "gunicorn.log"), "w")
    env = dict(os.environ, MF_PEER_MODEL=os.path.join(work, "peer_model.json"))
    p = subprocess.Popen(["gunicorn", "--workers", str(CORES), "--worker-class", "sync", "--bind",
                          "127.0.0.1:%d" % port, "--log-level", "warning", "--chdir", os.path.join(ROOT, "bench"),
                          "serve_peer:app"], stdout=log, stderr=subprocess.STDOUT, env=env)
    wait_http("http://127.0.0.1:%d/health" % port, p)
    doors["flask"] = ("http://127.0.0.1:%d/v1/models/%s:predict" % (port, MODEL), p)
    one_row = urllib.request.Request(doors["mf-serve"][0], data=json.dumps({"instances": rows[:1]}).encode(),
                                     headers={"Content-Type": "application/json"})
    doors["floor"] = start_floor(work, len(urllib.request.urlopen(one_row, timeout=10).read()))
    worker = os.environ.get("MF_BENCH_HTTP_WORKER_URL") or start_http_worker()
    if worker:
        doors["http-worker"] = (worker, None)


def start_floor(work, answer_bytes):
    """bench/http_floor.c built and started, answering answer_bytes of body (mf-serve's one-row answer)."""
    binary = os.path.join(work, "http_floor")
    subprocess.run(["cc", "-O2", "-pthread", "-o", binary, os.path.join(ROOT, "bench", "http_floor.c")], check=True)
    port = free_port()
    p = subprocess.Popen([binary, str(port), str(answer_bytes)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_http("http://127.0.0.1:%d/" % port, p)
    return ("http://127.0.0.1:%d/v1/models/%s:predict" % (port, MODEL), p)


def server_histogram(url):
    """mf-serve's request-duration buckets {le: count} for the model (GET /metrics)."""
    base = url.split("/v1/")[0]
    text = urllib.request.urlopen(base + "/metrics", timeout=5).read().decode()
    out = {}
    for m in re.finditer(r'^mf_serve_request_duration_seconds_bucket\{model="%s",[^}]*le="([^"]+)"\} (\d+)$' % MODEL,
                         text, re.M):
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        out[le] = out.get(le, 0) + int(m.group(2))
    return out


def server_tail(before, after):
    """(share of requests over 1 ms, upper bound of the p99 bucket in ms) between two histograms."""
    d = {le: after.get(le, 0) - before.get(le, 0) for le in after}
    total = d.get(float("inf"), 0)
    if total == 0:
        return None
    over = (total - d.get(0.001, total)) / total
    p99 = next(le for le in sorted(d) if d[le] >= 0.99 * total)
    return over, p99 * 1000.0


def start_http_worker():
    """Deploy the model on the in-database server (this database must be
    mf.database and mf_ext preloaded): its URL, or None."""
    if psql("SELECT current_database() = current_setting('mf.database', true)"
            " AND EXISTS (SELECT 1 FROM mf._http_state())") != "t":
        return None
    port = free_port()
    for s in ("mf.http_port = %d" % port, "mf.http_workers = %d" % CORES, "mf.http_role = 'mf_reader'",
              "mf.http_listen_addresses = 'localhost'"):
        psql("ALTER SYSTEM SET " + s)
    psql("SELECT pg_reload_conf()")
    psql("SELECT mf_undeploy(deployment_id) FROM mf.deployments WHERE name = '%s' AND status = 'active'" % MODEL)
    psql("SELECT mf_deploy('%s')" % MODEL)
    t0 = time.time()
    while psql("SELECT state = 'serving' AND port = %d AND cardinality(server_pids) = %d FROM mf._http_state()"
               % (port, CORES)) != "t":
        if time.time() - t0 > 30:
            raise RuntimeError("the in-database HTTP server is not serving: " +
                               psql("SELECT row(s.*) FROM mf._http_state() s"))
        time.sleep(0.1)
    url = "http://127.0.0.1:%d/v1/models/%s" % (port, MODEL)
    t0 = time.time()
    while True:  # the served snapshot follows the deployment within ~30 ms
        try:
            urllib.request.urlopen(url, timeout=2).read()
            break
        except OSError:
            if time.time() - t0 > 10:
                raise
            time.sleep(0.05)
    return url + ":predict"


def stop_http_worker():
    if psql("SELECT current_setting('mf.http_port', true) IS NOT NULL") == "t":
        psql("ALTER SYSTEM RESET mf.http_port")
        psql("SELECT pg_reload_conf()")


def parity(doors, rows):
    """Both HTTP doors give the same labels and (nearly) the same probabilities."""
    body = json.dumps({"instances": rows})
    a = post(doors["mf-serve"][0], body)["predictions"]
    b = post(doors["flask"][0], body)["predictions"]
    same_labels = [x["label"] for x in a] == [x["label"] for x in b]
    diff = max(abs(p - q) for x, y in zip(a, b) for p, q in zip(x["probabilities"], y["probabilities"]))
    return same_labels, diff


WRK_LUA = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("MF_WRK_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()
"""


def server_pids(name, proc):
    """The processes whose CPU time a door's requests cost."""
    if proc is None:  # the in-database HTTP worker's serving processes
        return [int(x) for x in psql("SELECT array_to_string(server_pids, ' ') FROM mf._http_state()").split()]
    pids = [proc.pid]
    try:
        with open("/proc/%d/task/%d/children" % (proc.pid, proc.pid)) as f:
            pids += [int(x) for x in f.read().split()]  # gunicorn's workers
    except OSError:
        pass
    return pids


def cpu_seconds(pids):
    """utime + stime of the processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def loadavg():
    """The machine's 1-minute load average (other helpers share it)."""
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def to_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    v = float(m.group(1))
    return v * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[m.group(2)]


def wrk(url, body_file, conns, threads, work, pids=()):
    """requests/s, p50 ms, p99 ms, errors, server CPU us per request of one wrk run."""
    lua = os.path.join(work, "post.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA)
    cpu0 = cpu_seconds(pids)
    out = subprocess.run(["wrk", "-t%d" % threads, "-c%d" % conns, "-d%ds" % SECONDS, "--latency", "-s", lua, url],
                         capture_output=True, text=True, env=dict(os.environ, MF_WRK_BODY=body_file),
                         timeout=SECONDS + 60).stdout
    rps = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    cpu = cpu_seconds(pids) - cpu0
    errs = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: .*", out)
    if m:
        errs += sum(int(x) for x in re.findall(r"\d+", m.group(0)))
    n = int(re.search(r"(\d+) requests in", out).group(1))
    return rps, p50, p99, errs, (cpu * 1e6 / n if pids and n else None), loadavg()


def pgbench(rows, conns, work):
    """transactions/s, p50 ms, p99 ms, failures of one pgbench run."""
    arrays = ", ".join("('{%s}'::float8[])" % ",".join(repr(v) for v in r) for r in rows)
    script = os.path.join(work, "pgbench-%d.sql" % len(rows))
    with open(script, "w") as f:
        f.write("SELECT mf_predict_label('%s', x), mf_predict_proba('%s', x) FROM (VALUES %s) v(x);\n"
                % (MODEL, MODEL, arrays))
    logdir = tempfile.mkdtemp(dir=work)
    out = subprocess.run([PG_BIN + "/pgbench", "-n", "-M", "simple", "-c", str(conns), "-j", str(min(conns, CORES)),
                          "-T", str(SECONDS), "-f", script, "-l", "--log-prefix", os.path.join(logdir, "pgb")],
                         capture_output=True, text=True, timeout=SECONDS + 60)
    m = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out.stdout)
    if not m:
        raise RuntimeError("pgbench: %s" % (out.stdout + out.stderr)[-800:])
    lat = []
    for name in os.listdir(logdir):
        with open(os.path.join(logdir, name)) as f:
            lat.extend(int(line.split()[2]) / 1000.0 for line in f if line.strip())
    lat.sort()
    failed = re.search(r"number of failed transactions: (\d+)", out.stdout)
    shutil.rmtree(logdir, ignore_errors=True)
    return (float(m.group(1)), lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))],
            int(failed.group(1)) if failed else 0, None, loadavg())


def main():
    work = tempfile.mkdtemp(prefix="mf-bench-serve-")
    doors = {}
    try:
        models, rows = prepare(work)
        start_doors(work, models, rows, doors)
        same, diff = parity(doors, rows)
        print("parity (100 rows): labels %s, max |probability difference| %.3g" % ("equal" if same else "DIFFER", diff))
        bodies = {}
        for n in (1, 100):
            path = os.path.join(work, "body-%d.json" % n)
            with open(path, "w") as f:
                json.dump({"instances": rows[:n]}, f)
            bodies[n] = path
        results, tails, rounds = {}, {}, {}
        loads = [("throughput", CONNS, min(2, CONNS)), ("latency", 1, 1)]
        for n in (1, 100):
            for load, conns, threads in loads:
                hist = server_histogram(doors["mf-serve"][0]) if load == "latency" else None
                names = [d for d in doors if d != "floor" or (load, n) == ("latency", 1)] + ["pgbench"]
                for r in range(ROUNDS):
                    for name in names[r % len(names):] + names[:r % len(names)]:  # each round starts elsewhere
                        if name == "pgbench":
                            one = pgbench(rows[:n], conns, work)
                        else:
                            url, proc = doors[name]
                            one = wrk(url, bodies[n], conns, threads, work, server_pids(name, proc))
                        rounds.setdefault((name, n, load), []).append(one)
                if hist is not None:
                    tails[n] = server_tail(hist, server_histogram(doors["mf-serve"][0]))
        for key, runs in rounds.items():
            results[key] = median_run(runs)
        report(results, same, diff, tails, rounds)
    finally:
        if "http-worker" in doors and not os.environ.get("MF_BENCH_HTTP_WORKER_URL"):
            stop_http_worker()
        for _, p in doors.values():
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)


def median_run(runs):
    """The median of each figure of several runs (errors summed; CPU n/a when any run has none)."""
    med = lambda xs: statistics.median(xs)
    cpu = [r[4] for r in runs]
    return (med([r[0] for r in runs]), med([r[1] for r in runs]), med([r[2] for r in runs]), sum(r[3] for r in runs),
            med(cpu) if None not in cpu else None, med([r[5] for r in runs]))


def report(res, same, diff, tails, rounds):
    names = sorted({k[0] for k in res},
                   key=["mf-serve", "mf-serve-before", "http-worker", "flask", "pgbench", "floor"].index)
    print("\n| door | rows/request | load | requests/s | p50 ms | p99 ms | errors | server CPU us/request | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in (1, 100):
        for load in ("throughput", "latency"):
            for name in names:
                if (name, n, load) in res:
                    rps, p50, p99, errs, cpu, la = res[(name, n, load)]
                    print("| %s | %d | %s | %.0f | %.3f | %.3f | %d | %s | %.1f |"
                          % (name, n, load, rps, p50, p99, errs, "%.1f" % cpu if cpu is not None else "n/a", la))
    print()
    for n in (1, 100):
        a, b, c = res[("mf-serve", n, "throughput")], res[("flask", n, "throughput")], res[("pgbench", n, "throughput")]
        la, lb = res[("mf-serve", n, "latency")], res[("flask", n, "latency")]
        print("%d row(s): mf-serve / flask requests/s %.1fx (target >= 10x: %s); mf-serve / pgbench %.2fx; "
              "p99 at one connection mf-serve %.3f ms vs flask %.3f ms%s"
              % (n, a[0] / b[0], "met" if a[0] / b[0] >= 10 else "not met", a[0] / c[0], la[2], lb[2],
                 (" (target < 1 ms: %s)" % ("met" if la[2] < 1.0 else "not met")) if n == 1 else ""))
        per_round = ["%.1fx" % (x[0] / y[0]) for x, y in zip(rounds[("mf-serve", n, "throughput")],
                                                            rounds[("flask", n, "throughput")])]
        print("   per round (medians above): mf-serve / flask requests/s %s; mf-serve p99 at one connection %s ms"
              % (", ".join(per_round), ", ".join("%.3f" % x[2] for x in rounds[("mf-serve", n, "latency")])))
        if tails.get(n):
            over, bucket = tails[n]
            print("   mf-serve's own time per request at one connection (its /metrics histogram): p99 <= %g ms, "
                  "%.3f %% of requests over 1 ms" % (bucket, 100 * over))
        if n == 1 and ("floor", 1, "latency") in res:
            print("   floor (a C server answering a constant, same wrk): p99 %.3f ms at one connection (rounds: %s)"
                  % (res[("floor", 1, "latency")][2], ", ".join("%.3f" % x[2] for x in rounds[("floor", 1, "latency")])))
        ca, cb = a[4], b[4]
        if ca and cb:
            print("   server CPU per request (throughput load): mf-serve %.1f us, flask %.1f us: flask / mf-serve %.1fx"
                  % (ca, cb, cb / ca))
        if ("mf-serve-before", n, "throughput") in res:
            o = res[("mf-serve-before", n, "throughput")]
            print("   mf-serve / mf-serve-before requests/s %.2fx, server CPU per request %.1f -> %.1f us"
                  % (a[0] / o[0], o[4] or 0, ca or 0))
        if ("http-worker", n, "throughput") in res:
            w, wt = res[("http-worker", n, "latency")], res[("http-worker", n, "throughput")]
            print("   http-worker / mf-serve: p50 latency %.2fx (target <= 1.3x: %s), requests/s %.2fx"
                  % (w[1] / la[1], "met" if w[1] / la[1] <= 1.3 else "not met", wt[0] / a[0]))
    if ("http-worker", 1, "throughput") not in res:
        print("http-worker: n/a (this database is not mf.database, or mf_ext is not preloaded; "
              "bench/serve.sh runs in a cluster of its own where it is)")
    print("cores %d, wrk %d connections for throughput, %d s per run, %d rounds (medians); parity %s, max diff %.3g"
          % (CORES, CONNS, SECONDS, ROUNDS, "ok" if same else "LABELS DIFFER", diff))


if __name__ == "__main__":
    sys.exit(main())
