"""Timing loop of bench/image_start.sh: container start to first correct answer.

Reads one JSON file (argv[1]) written by image_start.sh:
{"runc_root": ..., "repeats": n, "expected": {"label": ..., "probabilities": [...]},
 "sides": [{"name": ..., "bundle": ..., "url": ..., "body": {...}}, ...]}.
Each round starts every side in turn with `runc run -d` (the bundle's own
config: the edge namespace, a read-only root), then POSTs the body to the
side's URL until an answer arrives (connection refused: retry after 2 ms; an
accepted connection waits for the answer), checks that answer (HTTP 200, the
database's label, its probabilities within 1e-12) and kills and deletes the
container. Prints one line per start and the medians and their ratio.
"""
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request


def first_answer(url, body, expected, limit=120.0):
    """The time (time.time()) of the first answer to body; raises if it is wrong or never comes."""
    data = json.dumps(body).encode()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=limit) as r:
                status, answer = r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s answered %d: %s" % (url, e.code, e.read()[:300]))
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.002)
            continue
        p = answer["predictions"][0]
        probs = sorted(p["probabilities"])
        if status != 200 or p["label"] != expected["label"] or \
                any(abs(a - b) > 1e-12 for a, b in zip(probs, expected["probabilities"])):
            raise RuntimeError("%s answered %s, the database %s" % (url, answer, expected))
        return time.time()
    raise RuntimeError("%s did not answer within %d s" % (url, limit))


def run_side(cfg, side, tag):
    """One start of one side: (seconds until runc run -d returned, seconds until the first answer)."""
    cid = "mfstart%d%s" % (os.getpid(), tag)
    log = open(side["bundle"] + ".log", "a")
    t0 = time.time()
    subprocess.run(["runc", "--root", cfg["runc_root"], "run", "-d", "--bundle", side["bundle"], cid],
                   stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True)
    t_run = time.time() - t0
    try:
        t_first = first_answer(side["url"], side["body"], cfg["expected"]) - t0
    finally:
        subprocess.run(["runc", "--root", cfg["runc_root"], "delete", "--force", cid], stdout=log, stderr=log)
    return t_run, t_first


def main():
    cfg = json.load(open(sys.argv[1]))
    times = {s["name"]: [] for s in cfg["sides"]}
    for i in range(cfg["repeats"]):
        for s in cfg["sides"]:
            t_run, t_first = run_side(cfg, s, "%d%s" % (i, s["name"][:4]))
            times[s["name"]].append((t_run, t_first))
            print("  round %d %-22s runc run -d returned after %6.1f ms, first correct answer after %7.1f ms"
                  % (i + 1, s["name"], t_run * 1e3, t_first * 1e3))
    med = {n: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for n, v in times.items()}
    names = [s["name"] for s in cfg["sides"]]
    print("container start to first correct answer, median of %d:" % cfg["repeats"])
    for n in names:
        print("  %-22s %7.1f ms (runc run -d itself %.1f ms)" % (n, med[n][1] * 1e3, med[n][0] * 1e3))
    print("  ratio %s / %s: %.1fx" % (names[1], names[0], med[names[1]][1] / med[names[0]][1]))


if __name__ == "__main__":
    main()
