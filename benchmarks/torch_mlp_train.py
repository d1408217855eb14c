#!/usr/bin/python3
"""PyTorch baseline for benchmarks/mlp_throughput.sh: the same MLP, optimizer, batch size and data as
`hpctrain train` on the default data set, timed the same way (epochs after the first).
Usage: torch_mlp_train.py DATA.h5 --threads T --epochs E --batch-size B --widths 64,64,64
       [--activation gelu-tanh|relu]   (DDP: see torch_common.py)"""
import argparse
import torch_common  # first: it sets the environment torch reads when it loads

import h5py
import numpy as np
import torch
import torch.nn as nn

p = argparse.ArgumentParser()
p.add_argument("data")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--epochs", type=int, default=5)
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--widths", default="64,64,64")
p.add_argument("--activation", choices=["gelu-tanh", "relu"], default="gelu-tanh")
a = p.parse_args()
torch.manual_seed(1)
with h5py.File(a.data) as f:
    x = torch.from_numpy(np.asarray(f["X"], np.float32))
    y = torch.from_numpy(np.asarray(f["y"], np.float32)).reshape(len(x), -1)
n_train = int(len(x) * 0.8)  # hpctrain holds out 20% for validation
x, y = (x - x.mean(0)) / x.std(0), (y - y.mean(0)) / y.std(0)
x, y = x[:n_train], y[:n_train]
layers, prev = [], x.shape[1]
for w in map(int, a.widths.split(",")):
    layers += [nn.Linear(prev, w), nn.ReLU() if a.activation == "relu" else nn.GELU(approximate="tanh")]
    prev = w
model = nn.Sequential(*layers, nn.Linear(prev, y.shape[1]))
torch_common.train(model, x, y, nn.functional.mse_loss, a.epochs, a.batch_size, a.threads)
