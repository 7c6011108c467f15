#!/usr/bin/python3
"""Benchmark: MLP 20 -> 64 -> 64 -> 2 (ReLU, Adam lr 1e-3, batch 256) on
100k rows x 20 float8 features; the figure is seconds per epoch.

ours   mf_create_model(mlp ...) + mf_train(ref, 'bench_mlp', 'label',
       '{"test_size": 0}') with training.epochs = EPOCHS, so both sides train
       on the same 100k rows (mf_ext holds 20% out by default, which cost it
       1.6 accuracy points here); per epoch = metrics.training_seconds /
       epochs when mf_train records them, else wall time / EPOCHS
peer   PyTorch on CPU, torch.set_num_threads(1), same architecture, data
       already in memory (fetched once through psycopg2, not timed), shuffled
       mini-batches each epoch; per epoch = wall time / EPOCHS
Accuracy of both on bench_mlp_test (20k rows).
"""
import os
import time

import torch

import common as c

N_ROWS, N_TEST, N_FEAT = 100000, 20000, 20
EPOCHS = int(os.environ.get("MF_BENCH_MLP_EPOCHS", "5"))
BATCH = 256
FEATURES = [f"f{i}" for i in range(1, N_FEAT + 1)]
COLS = ", ".join(FEATURES + ["label"])
LABEL = f"mlp 100k x 20 (20-64-64-2, batch {BATCH}, {EPOCHS} epochs)"
CONFIG = {"name": "bench_mlp", "family": "mlp", "task": "classification",
          "hidden_layers": [64, 64], "activation": "relu", "dropout": 0.0,
          "num_classes": 2, "n_features": N_FEAT,
          "training": {"optimizer": "adam", "learning_rate": 0.001, "batch_size": BATCH,
                       "epochs": EPOCHS, "early_stopping": False, "seed": 0}}
OPTIONS = {"test_size": 0}
# per-epoch figures are for N_ROWS rows on both sides (ours scaled by train_rows)


def mlp_select(n_rows):
    """Rows with a nonlinear rule on f1..f8 (f9..f20 are distractors):
    label = (2 f1 f2 + sin(3 f3) + 3 (f4^2 - 1/3) + 0.3 (f5 - f6 + f7 - f8)
             + 0.3 N(0,1) > 0)."""
    xs = ", ".join(f"2 * random() - 1 AS {f}" for f in FEATURES)
    cols = ", ".join(FEATURES)
    rule = ("2 * f1 * f2 + sin(3 * f3) + 3 * (f4 * f4 - 1.0 / 3) "
            f"+ 0.3 * (f5 - f6 + f7 - f8) + 0.3 * {c.NORMAL_SQL}")
    return (f"SELECT {cols}, ({rule} > 0)::int AS label "
            f"FROM (SELECT {xs} FROM generate_series(1, {n_rows}) OFFSET 0) a")


def torch_model():
    """The same network as the mf_ext config."""
    return torch.nn.Sequential(
        torch.nn.Linear(N_FEAT, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 2))


def peer(X, y):
    """Train EPOCHS epochs from scratch; return the model."""
    torch.manual_seed(0)
    model = torch_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(EPOCHS):
        perm = torch.randperm(X.shape[0])
        for i in range(0, X.shape[0], BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad()
            loss_fn(model(X[idx]), y[idx]).backward()
            opt.step()
    return model


def accuracy(model, X, y):
    """Share of correct argmax predictions."""
    with torch.no_grad():
        return (model(X).argmax(1) == y).float().mean().item()


def as_tensors(data):
    """float32 features (PyTorch's default) and int64 labels."""
    return (torch.tensor(data[:, :N_FEAT], dtype=torch.float32),
            torch.tensor(data[:, N_FEAT], dtype=torch.int64))


def main():
    torch.set_num_threads(1)
    conn = c.connect()
    c.ensure_table(conn, "bench_mlp", N_ROWS, mlp_select(N_ROWS), 0.7)
    c.ensure_table(conn, "bench_mlp_test", N_TEST, mlp_select(N_TEST), -0.7)
    X, y = as_tensors(c.fetch_numpy(conn, f"SELECT {COLS} FROM bench_mlp", N_FEAT + 1))
    Xt, yt = as_tensors(c.fetch_numpy(conn, f"SELECT {COLS} FROM bench_mlp_test", N_FEAT + 1))

    t_peer, model = c.median_time(lambda: peer(X, y))
    per_peer = t_peer / EPOCHS
    peer_desc = (f"PyTorch 1 thread {per_peer:.3f} s/epoch, "
                 f"accuracy {accuracy(model, Xt, yt):.4f}")

    if not c.mf_train_available(conn):
        print(c.not_available_line(LABEL, peer_desc))
        return
    runs = []

    def ours():
        t0 = time.perf_counter()
        ref = c.train_ours(conn, CONFIG, "bench_mlp", "label", OPTIONS)
        wall = time.perf_counter() - t0
        m = c.model_metrics(conn, ref)
        secs, epochs = m.get("training_seconds"), m.get("epochs") or EPOCHS
        per = secs / epochs if isinstance(secs, (int, float)) else wall / EPOCHS
        # mf_train may hold rows out (data.test_size): scale to a full epoch
        rows = m.get("train_rows")
        runs.append(per * N_ROWS / rows if isinstance(rows, int) and rows > 0 else per)
        return ref

    _, ref = c.median_time(ours)
    per_ours = sorted(runs)[len(runs) // 2]
    acc_ours = c.fmt_metric(c.evaluate_ours(conn, ref, "bench_mlp_test", "label"), "accuracy")
    print(f"{LABEL}: mf_ext {per_ours:.3f} s/epoch (accuracy {acc_ours}), {peer_desc}, "
          f"ratio {per_peer / per_ours:.1f}x")


if __name__ == "__main__":
    main()
