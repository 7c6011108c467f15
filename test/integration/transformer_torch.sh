#!/usr/bin/env bash
# Differential test of the transformer kernels against PyTorch (issue 17):
# build/unit/tf_torch_dump builds a seeded softmax model in C (every float
# perturbed, so no bias or norm is trivial) and prints its tensors, one
# padded batch, the C outputs, loss and gradients; test/integration/tf_torch.py
# loads the tensors into the equivalent PyTorch module with
# load_state_dict(strict=True) (the one-to-one mapping of kernels/README.md)
# and compares outputs, logits, loss and every gradient to 1e-4.
# Models: an encoder classifier (nn.TransformerEncoderLayer) with GELU and
# with SWIGLU, a decoder-only LM (causal TransformerEncoderLayer) with ReLU,
# tied and untied, and an encoder-decoder (nn.TransformerDecoderLayer with
# cross-attention) with GEGLU.  Needs no server; needs Debian's
# python3-torch (scripts/install-deps.sh) run by /usr/bin/python3.
. "$(dirname "$0")/jobs_lib.bash"
PY=/usr/bin/python3
"$PY" -c 'import torch' 2>/dev/null ||
	fail "PyTorch is missing for $PY: install python3-torch (make deps)"
make -s -C "$MF_ROOT" build/unit/tf_torch_dump >/dev/null || fail "tf_torch_dump does not build"
DUMP="$MF_ROOT/build/unit/tf_torch_dump"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

files=()
for model in "encoder gelu 0 7" "encoder swiglu 0 8" "decoder relu 0 9" "decoder gelu 1 10" \
	"encdec geglu 0 11" "encdec gelu 1 12"; do
	# shellcheck disable=SC2086 # the four words are the tool's four arguments
	"$DUMP" $model >"$TMP/${model// /_}.json" || fail "tf_torch_dump $model failed"
	files+=("$TMP/${model// /_}.json")
done
# one Python process for all six (importing torch is most of the time)
"$PY" "$MF_ROOT/test/integration/tf_torch.py" "${files[@]}" || fail "some models differ from PyTorch"
pass "6 models equal PyTorch's modules on the same weights (outputs, logits, loss, gradients to 1e-4)"
