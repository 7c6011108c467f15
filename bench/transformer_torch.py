#!/usr/bin/python3
"""The peer side of bench/transformer.sh: PyTorch on CPU, same model, batch, steps.

    transformer_torch.py KIND B T D LAYERS HEADS DFF VOCAB STEPS THREADS
    transformer_torch.py compare OUR_DRIVER      (what bench/transformer.sh runs)

The module is test/integration/tf_torch.py's Model (the one the differential
test proves equal to the C kernels on the same weights), built with dropout 0.1,
GELU, LayerNorm, untied head; AdamW(lr 1e-3, weight_decay 0.01) and
clip_grad_norm_(1.0), as bench/transformer_bench.c.  torch.set_num_threads(THREADS).
Measured as on our side:
  train_ms  median of STEPS (zero_grad, forward, cross-entropy, backward, clip,
            AdamW step) after 2 warm-up steps;
  infer_ms  median of STEPS forwards under torch.inference_mode() in eval mode
            (PyTorch's fast path where it applies);
  train_cpu_ms, infer_cpu_ms  the same medians in CPU time of the process
            (time.process_time: every thread; time spent waiting for a core on
            a shared machine is not counted);
  rss_kb    growth of peak RSS (VmHWM of /proc/self/status; getrusage's ru_maxrss
            is carried over from the parent across fork and execve on Linux) from
            just before the model is built to the end: parameters, gradients, AdamW state,
            activations and allocator caches (PyTorch's CPU allocator has no peak
            counter; tracemalloc does not see its buffers).
One JSON object on stdout.
"""
import json
import os
import statistics
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test",
                                "integration"))
from tf_torch import Model  # noqa: E402  (the differential test's module)


def peak_rss_kb():
    """VmHWM of this address space, KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return -1


def main():
    kind = sys.argv[1]
    B, T, d, layers, heads, dff, vocab, steps, threads = map(int, sys.argv[2:])
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    cfg = {"kind": kind, "act": "gelu", "d_model": d, "nhead": heads, "num_layers": layers,
           "d_ff": dff, "vocab": vocab, "max_length": T, "classes": 2, "eps": 1e-5,
           "dropout": 0.1}
    ids = torch.randint(vocab, (B, T))
    pad = torch.zeros(B, T, dtype=torch.bool)
    labels = torch.randint(2 if kind == "encoder" else vocab, (B,) if kind == "encoder" else (B * T,))
    rss0 = peak_rss_kb()
    model = Model(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    model.train()
    times, cpu = [], []
    for i in range(steps + 2):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=False)
        _, logits = model(ids, pad, ids, pad)
        loss = F.cross_entropy(logits.reshape(labels.shape[0], -1), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i >= 2:
            times.append(1e3 * (time.perf_counter() - t0))
            cpu.append(1e3 * (time.process_time() - c0))
    train_ms, train_cpu_ms = statistics.median(times), statistics.median(cpu)
    model.eval()
    times, cpu = [], []
    with torch.inference_mode():
        for i in range(steps + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            model(ids, pad, ids, pad)
            if i >= 1:
                times.append(1e3 * (time.perf_counter() - t0))
                cpu.append(1e3 * (time.process_time() - c0))
    rss = peak_rss_kb() - rss0
    n = sum(p.numel() for p in model.parameters())
    print(json.dumps({"side": "pytorch", "train_ms": round(train_ms, 3),
                      "infer_ms": round(statistics.median(times), 3),
                      "train_cpu_ms": round(train_cpu_ms, 3),
                      "infer_cpu_ms": round(statistics.median(cpu), 3), "rss_kb": rss,
                      "params": n, "loss": round(loss.item(), 4),
                      "torch": torch.__version__}))


MODELS = {"encoder": 8000, "decoder": 2000}


def run_side(cmd, threads):
    """One run of one side in a fresh process; its JSON."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def compare(driver):
    """Both sides, every model and thread count; a table with ratios."""
    repeats = int(os.environ.get("MF_BENCH_REPEATS", "3"))
    steps = os.environ.get("MF_BENCH_TF_STEPS", "5")
    shape = os.environ.get("MF_BENCH_TF_SHAPE", "32 64 128 2 4 512").split()
    cores = os.cpu_count() or 1
    print(f"transformer: B T d layers heads d_ff = {' '.join(shape)}, GELU, dropout 0.1, AdamW; "
          f"median of {repeats} runs of the median of {steps} steps; torch {torch.__version__}")
    print(f"load average at the start: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    print("| model | threads | train ms ours / torch (ratio) | infer ms ours / torch (ratio) "
          "| train CPU ms (ratio) | infer CPU ms (ratio) "
          "| arena train / infer MiB | RSS growth MiB ours / torch | load after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind, vocab in MODELS.items():
        args = [kind] + shape + [str(vocab), steps]
        for threads in sorted({1, cores}):
            ours, theirs = [], []
            for _ in range(repeats):
                ours.append(run_side([driver] + args + [str(threads)], threads))
                theirs.append(run_side([sys.executable, os.path.abspath(__file__)] + args
                                       + [str(threads)], threads))
            med = lambda runs, k: statistics.median(r[k] for r in runs)  # noqa: E731
            tr, ti = med(ours, "train_ms"), med(ours, "infer_ms")
            pr, pi = med(theirs, "train_ms"), med(theirs, "infer_ms")
            ctr, cti = med(ours, "train_cpu_ms"), med(ours, "infer_cpu_ms")
            cpr, cpi = med(theirs, "train_cpu_ms"), med(theirs, "infer_cpu_ms")
            mib = 1 / 1048576
            print(f"| {kind} | {threads} | {tr:.1f} / {pr:.1f} ({pr / tr:.2f}x) | "
                  f"{ti:.1f} / {pi:.1f} ({pi / ti:.2f}x) | "
                  f"{ctr:.1f} / {cpr:.1f} ({cpr / ctr:.2f}x) | {cti:.1f} / {cpi:.1f} ({cpi / cti:.2f}x) | "
                  f"{ours[0]['arena_train_bytes'] * mib:.1f} / {ours[0]['arena_infer_bytes'] * mib:.1f} | "
                  f"{med(ours, 'rss_kb') / 1024:.1f} / {med(theirs, 'rss_kb') / 1024:.1f} | "
                  f"{open('/proc/loadavg').read().split()[0]} |", flush=True)
            assert ours[0]["params"] == theirs[0]["params"], "the two sides' models differ"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "compare":
        compare(sys.argv[2])
    else:
        main()
