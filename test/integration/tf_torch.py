#!/usr/bin/python3
"""Load the C kernels' transformer into the equivalent PyTorch module and compare.

Reads the JSON that build/unit/tf_torch_dump prints (stdin, or each file argument),
builds the PyTorch module the mapping of kernels/README.md describes, loads the
C tensors with load_state_dict(strict=True) (so every name and shape must match
one to one, nothing missing, nothing left over), runs the same batch and
compares, each to 1e-4 (absolute, relative to max(1, largest magnitude)):
  - the last stack's normed output and the logits (evaluation),
  - the mean cross-entropy of the training forward (dropout 0),
  - the gradient of every trained tensor (autograd against the C backward).
Prints one `ok - ...` / `not ok - ...` line per check; exit 1 on any failure.

The module: submodules `encoder` / `decoder` (token_emb, pos_emb = nn.Embedding,
layers = nn.ModuleList of nn.TransformerEncoderLayer, or TransformerDecoderLayer
for the decoder of an encoder-decoder, norm_first=True, batch_first=True,
dropout cfg["dropout"] (0 here; bench/transformer_torch.py reuses this module); final `norm` = nn.LayerNorm), `classifier` (mean pooling over
non-padding tokens) and `lm_head` = nn.Linear (its weight is the decoder's
token_emb.weight when tied, as in GPT-2: then state_dict lists it twice and
the C artifact once).  A decoder-only stack is TransformerEncoderLayers with
the causal mask.  Gated activations (geglu, reglu, swiglu) widen linear1 to
2*d_ff and pass the gate as `activation`: `v, g = h.chunk(2, -1); v * act(g)`.
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

TOL = 1e-4
GATES = {"geglu": F.gelu, "reglu": F.relu, "swiglu": F.silu}
ACTS = {"gelu": F.gelu, "relu": F.relu, "silu": F.silu}


def activation(name):
    """The callable a layer applies after linear1."""
    if name in GATES:
        gate = GATES[name]

        def gated(h):
            v, g = h.chunk(2, -1)
            return v * gate(g)
        return gated
    return ACTS[name]


class Stack(nn.Module):
    """Embeddings, pre-norm layers and the final LayerNorm of one stack."""

    def __init__(self, cfg, cross, causal):
        super().__init__()
        d, f = cfg["d_model"], cfg["d_ff"]
        self.token_emb = nn.Embedding(cfg["vocab"], d)
        self.pos_emb = nn.Embedding(cfg["max_length"], d)
        kind = nn.TransformerDecoderLayer if cross else nn.TransformerEncoderLayer
        self.layers = nn.ModuleList()
        for _ in range(cfg["num_layers"]):
            layer = kind(d, cfg["nhead"], dim_feedforward=f, dropout=cfg.get("dropout", 0.0),
                         activation=activation(cfg["act"]), layer_norm_eps=cfg["eps"],
                         batch_first=True, norm_first=True)
            if cfg["act"] in GATES:
                layer.linear1 = nn.Linear(d, 2 * f)
            self.layers.append(layer)
        self.norm = nn.LayerNorm(d, eps=cfg["eps"])
        self.cross, self.causal = cross, causal

    def forward(self, ids, pad, memory=None, mem_pad=None):
        T = ids.shape[1]
        x = self.token_emb(ids) + self.pos_emb(torch.arange(T))[None]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1) if self.causal else None
        for layer in self.layers:
            if self.cross:
                x = layer(x, memory, tgt_mask=mask, tgt_key_padding_mask=pad,
                          memory_key_padding_mask=mem_pad)
            else:
                x = layer(x, src_mask=mask, src_key_padding_mask=pad)
        return self.norm(x)


class Model(nn.Module):
    """encoder classifier, decoder LM or encoder-decoder."""

    def __init__(self, cfg):
        super().__init__()
        self.kind = cfg["kind"]
        d = cfg["d_model"]
        if self.kind != "decoder":
            self.encoder = Stack(cfg, cross=False, causal=False)
        if self.kind == "encoder":
            self.classifier = nn.Linear(d, cfg["classes"])
        else:
            self.decoder = Stack(cfg, cross=self.kind == "encdec", causal=True)
            self.lm_head = nn.Linear(d, cfg["vocab"])

    def forward(self, src, src_pad, tgt, tgt_pad):
        if self.kind == "encoder":
            out = self.encoder(src, src_pad)
            keep = (~src_pad).unsqueeze(-1).float()
            pooled = (out * keep).sum(1) / keep.sum(1)
            return out, self.classifier(pooled)
        memory = self.encoder(src, src_pad) if self.kind == "encdec" else None
        out = self.decoder(tgt, tgt_pad, memory, src_pad if memory is not None else None)
        return out, self.lm_head(out)


def close(name, ours, theirs):
    """One TAP line: max |ours - theirs| <= TOL * max(1, max |theirs|)."""
    ours = torch.as_tensor(ours, dtype=torch.float32).reshape(-1)
    theirs = theirs.detach().reshape(-1).float()
    if ours.shape != theirs.shape:
        print(f"not ok - {name}: {ours.numel()} values in C, {theirs.numel()} in PyTorch")
        return False
    err = (ours - theirs).abs().max().item() if ours.numel() else 0.0
    scale = max(1.0, theirs.abs().max().item() if theirs.numel() else 0.0)
    good = err <= TOL * scale
    print(f"{'ok' if good else 'not ok'} - {name}: max abs diff {err:.2e} (scale {scale:.3g})")
    return good


def main():
    """Check every JSON file named (stdin when none); 1 if any check failed."""
    torch.set_num_threads(1)
    if len(sys.argv) == 1:
        return check(json.load(sys.stdin))
    failed = 0
    for path in sys.argv[1:]:
        with open(path) as f:
            failed += check(json.load(f))
    return 1 if failed else 0


def check(cfg):
    """All checks of one dumped model; 0 when they pass."""
    torch.manual_seed(0)
    model = Model(cfg)
    tag = f"{cfg['kind']} {cfg['act']}{' tied' if cfg['tied'] else ''}"
    state = {t["name"]: torch.tensor(t["data"], dtype=torch.float32).reshape(t["shape"])
             for t in cfg["tensors"]}
    if cfg["tied"]:
        state["lm_head.weight"] = state["decoder.token_emb.weight"]
    ok = True
    try:
        model.load_state_dict(state, strict=True)
        print(f"ok - {tag}: the C tensors load as the PyTorch state_dict (strict: names and shapes)")
    except RuntimeError as e:
        print(f"not ok - {tag}: state_dict mismatch: {e}")
        return 1
    if cfg["tied"]:
        model.lm_head.weight = model.decoder.token_emb.weight
    B, S, T = cfg["B"], cfg["S"], cfg["T"]
    src = torch.tensor(cfg["src"]).reshape(B, S)
    src_pad = torch.tensor(cfg["src_pad"], dtype=torch.bool).reshape(B, S)
    tgt = torch.tensor(cfg["tgt"]).reshape(B, T)
    tgt_pad = torch.tensor(cfg["tgt_pad"], dtype=torch.bool).reshape(B, T)
    labels = torch.tensor(cfg["labels"])

    model.eval()
    out, logits = model(src, src_pad, tgt, tgt_pad)
    keep = ~(src_pad if cfg["kind"] == "encoder" else tgt_pad)
    # PyTorch's values at padded positions are not defined the same way: compare kept tokens
    ok &= close(f"{tag}: stack output (kept tokens)", torch.tensor(cfg["out"]).reshape(out.shape)[keep],
                out[keep])
    if cfg["kind"] == "encoder":
        ok &= close(f"{tag}: logits", cfg["logits"], logits)
    else:
        ok &= close(f"{tag}: logits (kept tokens)",
                    torch.tensor(cfg["logits"]).reshape(logits.shape)[keep], logits[keep])

    model.train()
    model.zero_grad()
    _, logits = model(src, src_pad, tgt, tgt_pad)
    if cfg["kind"] == "encoder":
        loss = F.cross_entropy(logits, labels)
    else:
        target = labels.reshape(B, T).masked_fill(tgt_pad, -100)
        loss = F.cross_entropy(logits.reshape(B * T, -1), target.reshape(-1), ignore_index=-100)
    loss.backward()
    ok &= close(f"{tag}: training loss", [cfg["loss"]], loss)
    params = dict(model.named_parameters())
    worst, bad = 0.0, []
    for g in cfg["grads"]:
        if not g["trained"]:
            continue
        p = params[g["name"]]
        theirs = p.grad.reshape(-1)
        ours = torch.tensor(g["data"], dtype=torch.float32)
        err = (ours - theirs).abs().max().item()
        scale = max(1.0, theirs.abs().max().item())
        worst = max(worst, err / scale)
        if err > TOL * scale:
            bad.append(f"{g['name']} ({err:.2e})")
    n = sum(1 for g in cfg["grads"] if g["trained"])
    if bad:
        ok = False
        print(f"not ok - {tag}: gradients of {len(bad)} of {n} tensors differ: {', '.join(bad)}")
    else:
        print(f"ok - {tag}: gradients of all {n} trained tensors equal autograd's "
              f"(worst relative diff {worst:.2e})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
