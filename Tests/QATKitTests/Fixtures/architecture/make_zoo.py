"""Architecture-file golden vectors: every layer type of QATKit's architecture files in a
PyTorch model with the same state-dict names, its weights and its outputs on fixed inputs.

    /path/to/python make_zoo.py    # torch 2.13 (CPU), safetensors; deterministic, seed 0

Writes conv_zoo.{json,safetensors}, token_zoo.{json,safetensors} and expected.json.
"""
import json
import math
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)


class Residual(nn.Module):
    def __init__(self, *layers):
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.body(x)


class Reshape(nn.Module):
    def __init__(self, *shape):
        super().__init__()
        self.shape = shape

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class Mean(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.mean(self.dim)


class MultiHeadAttention(nn.Module):
    """QATKit's layout: query/key/value/out projections, softmax(q k^T / sqrt(dh)) v."""

    def __init__(self, dim, heads):
        super().__init__()
        self.query, self.key, self.value, self.out = (nn.Linear(dim, dim) for _ in range(4))
        self.heads = heads

    def forward(self, x):
        b, t, d = x.shape
        dh = d // self.heads
        split = lambda y: y.reshape(b, t, self.heads, dh).permute(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh), dim=-1)
        return self.out((p @ v).permute(0, 2, 1, 3).reshape(b, t, d))


class TransformerEncoderBlock(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attention = MultiHeadAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        h = x + self.attention(self.norm1(x))
        return h + self.fc2(torch.nn.functional.gelu(self.fc1(self.norm2(h))))


def conv_zoo():
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.SiLU(), nn.MaxPool2d(3, stride=1),
        nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.3), nn.Linear(16, 12), nn.BatchNorm1d(12), nn.Tanh(),
        Reshape(3, 4), Residual(nn.LayerNorm(4), nn.Linear(4, 4), nn.Sigmoid()), Mean(1), nn.Linear(4, 3))


CONV_ARCH = {"input_shape": [2, 6, 6], "layers": [
    {"type": "Conv2d", "in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": 1},
    {"type": "BatchNorm2d", "num_features": 4},
    {"type": "SiLU"},
    {"type": "MaxPool2d", "kernel_size": 3, "stride": 1},
    {"type": "AvgPool2d", "kernel_size": 2},
    {"type": "Flatten"},
    {"type": "Dropout", "p": 0.3},
    {"type": "Linear", "in_features": 16, "out_features": 12},
    {"type": "BatchNorm1d", "num_features": 12},
    {"type": "Tanh"},
    {"type": "Reshape", "shape": [3, 4]},
    {"type": "Residual", "layers": [
        {"type": "LayerNorm", "normalized_shape": 4}, {"type": "Linear", "in_features": 4, "out_features": 4},
        {"type": "Sigmoid"}]},
    {"type": "Mean", "dim": 1},
    {"type": "Linear", "in_features": 4, "out_features": 3}]}


class TokenZoo(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.block = TransformerEncoderBlock(8, 2, 16)
        self.attention = MultiHeadAttention(8, 2)
        self.pool = Mean(1)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        return self.head(self.pool(self.attention(self.block(self.embed(x.long())))))


TOKEN_ARCH = {"input_shape": [5], "layers": [
    {"name": "embed", "type": "Embedding", "num_embeddings": 10, "embedding_dim": 8},
    {"name": "block", "type": "TransformerEncoderBlock", "dim": 8, "heads": 2, "hidden": 16},
    {"name": "attention", "type": "MultiHeadAttention", "embed_dim": 8, "num_heads": 2},
    {"name": "pool", "type": "Mean", "dim": 1},
    {"name": "head", "type": "Linear", "in_features": 8, "out_features": 3}]}


def main():
    expected = {}
    conv = conv_zoo()
    # Non-trivial running statistics: a few training-mode passes.
    conv.train()
    with torch.no_grad():
        for _ in range(3):
            conv(torch.randn(8, 2, 6, 6) * 2 + 0.5)
    conv.eval()
    x = torch.randn(3, 2, 6, 6)
    with torch.no_grad():
        y = conv(x)
    save_file({k: v.contiguous() for k, v in conv.state_dict().items()}, os.path.join(HERE, "conv_zoo.safetensors"))
    expected["conv_zoo"] = {"input": x.flatten().tolist(), "output": y.flatten().tolist(),
                            "state_dict": list(conv.state_dict().keys())}
    tok = TokenZoo().eval()
    ids = torch.randint(0, 10, (2, 5)).float()
    with torch.no_grad():
        y = tok(ids)
    save_file({k: v.contiguous() for k, v in tok.state_dict().items()}, os.path.join(HERE, "token_zoo.safetensors"))
    expected["token_zoo"] = {"input": ids.flatten().tolist(), "output": y.flatten().tolist(),
                             "state_dict": list(tok.state_dict().keys())}
    for name, arch in (("conv_zoo", CONV_ARCH), ("token_zoo", TOKEN_ARCH)):
        json.dump(arch, open(os.path.join(HERE, f"{name}.json"), "w"), indent=1)
    expected["versions"] = {"torch": torch.__version__}
    json.dump(expected, open(os.path.join(HERE, "expected.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
