#!/usr/bin/python3
"""PyTorch baseline for benchmarks/transformer_throughput.sh: the same models, optimizer, batch size
and data as `hpctrain train --model.type transformer-tabular | lm`, timed the same way (epochs after
the first). Prints samples per second.
  tabular: feature tokens x_i w_i + b_i + e_i -> pre-LN encoder layers (GELU, MLP ratio 4, no dropout)
           -> final LayerNorm -> mean over tokens -> Linear; MSE on standardised targets.
  lm:      byte embedding + learned positions -> causal pre-LN layers -> final LayerNorm -> Linear(256);
           next-byte cross-entropy.
Usage: torch_transformer_train.py tabular|lm DATA.h5 --threads T --epochs E --batch-size B
       [--d-model D --heads H --layers N]   (DDP: see torch_common.py)"""
import argparse
import torch_common  # first: it sets the environment torch reads when it loads

import h5py
import numpy as np
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("kind", choices=["tabular", "lm"])
p.add_argument("data")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--d-model", type=int, default=128)
p.add_argument("--heads", type=int, default=4)
p.add_argument("--layers", type=int, default=4)
a = p.parse_args()
torch.manual_seed(1)


def encoder(d, causal_len=0):
    layer = nn.TransformerEncoderLayer(d, a.heads, 4 * d, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True)
    return nn.TransformerEncoder(layer, a.layers, enable_nested_tensor=False)


class Tabular(nn.Module):
    def __init__(self, f, d, t):
        super().__init__()
        self.w, self.b, self.e = (nn.Parameter(torch.randn(f, d) * 0.1) for _ in range(3))
        self.blocks, self.norm, self.head = encoder(d), nn.LayerNorm(d), nn.Linear(d, t)

    def forward(self, x):
        h = x.unsqueeze(-1) * self.w + self.b + self.e
        return self.head(self.norm(self.blocks(h)).mean(1))


class ByteLm(nn.Module):
    def __init__(self, length, d):
        super().__init__()
        self.tok, self.pos = nn.Embedding(256, d), nn.Parameter(torch.randn(length, d) * 0.02)
        self.blocks, self.norm, self.head = encoder(d), nn.LayerNorm(d), nn.Linear(d, 256)
        self.register_buffer("mask", torch.triu(torch.full((length, length), float("-inf")), 1))

    def forward(self, ids):
        h = self.tok(ids) + self.pos[: ids.shape[1]]
        return self.head(self.norm(self.blocks(h, mask=self.mask[: ids.shape[1], : ids.shape[1]])))


with h5py.File(a.data) as f:
    if a.kind == "tabular":
        x = torch.from_numpy(np.asarray(f["X"], np.float32))
        y = torch.from_numpy(np.asarray(f["y"], np.float32)).reshape(len(x), -1)
        x, y = (x - x.mean(0)) / x.std(0), (y - y.mean(0)) / y.std(0)
        model = Tabular(x.shape[1], a.d_model, y.shape[1])
        loss_fn = lambda out, t: nn.functional.mse_loss(out, t)
    else:
        x = torch.from_numpy(np.asarray(f["tokens"], np.int64))
        y = torch.from_numpy(np.asarray(f["y"], np.int64))
        model = ByteLm(x.shape[1], a.d_model)
        loss_fn = lambda out, t: nn.functional.cross_entropy(out.reshape(-1, 256), t.reshape(-1), ignore_index=-1)
n = int(len(x) * 0.8)  # hpctrain holds out 20% for validation
x, y = x[:n], y[:n]
torch_common.train(model, x, y, loss_fn, a.epochs, a.batch_size, a.threads)
