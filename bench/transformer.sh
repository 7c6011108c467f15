#!/usr/bin/env bash
# `make bench` part (bench/run.sh runs it) or alone: transformer training and
# inference, the C kernels (build/bench/transformer_bench) against PyTorch on
# CPU (bench/transformer_torch.py, the module test/integration/tf_torch.py
# proves equal on the same weights), same architecture, batch, sequence
# length and optimiser, at one thread each (OPENBLAS_NUM_THREADS=1,
# torch.set_num_threads(1)) and at all cores each (nproc).  Needs no server.
#
# Each (model, threads) runs both sides MF_BENCH_REPEATS times (default 3),
# alternating ours / theirs so load drifts hit both; each run reports the
# median of MF_BENCH_TF_STEPS steps (default 5); the table shows the median
# over runs.  Ratio = PyTorch time / ours (> 1: ours faster), in wall time and
# in CPU time of the process (a loaded machine inflates wall time).  Memory: ours
# is the arena's peak per training step / inference batch (all activations
# and scratch) and, like theirs, the growth of the process's peak RSS
# (VmHWM) over the run (parameters, gradients, optimiser state,
# activations).  Models (GELU, LayerNorm, dropout 0.1, AdamW):
#   encoder  classifier, 2 classes, mean pooling, vocab 8000
#   decoder  causal LM, untied head, vocab 2000
# both d_model 128, 2 layers, 4 heads, d_ff 512, batch 32, length 64
# (MF_BENCH_TF_SHAPE="B T D LAYERS HEADS DFF" overrides).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/../scripts/lib.sh"
PY=/usr/bin/python3
"$PY" -c 'import torch' 2>/dev/null || die "PyTorch is missing for $PY (bench/run.sh installs python3-torch)"
make -s -C "$MF_ROOT" build/bench/transformer_bench >/dev/null || die "build/bench/transformer_bench does not build"
exec "$PY" "$MF_ROOT/bench/transformer_torch.py" compare "$MF_ROOT/build/bench/transformer_bench"
