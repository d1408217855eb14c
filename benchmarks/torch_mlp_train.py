#!/usr/bin/python3
"""PyTorch baseline for benchmarks/mlp_throughput.sh: the same MLP, optimizer, batch size and data as
`hpctrain train` on the default data set, timed the same way (epochs after the first).
Usage: torch_mlp_train.py DATA.h5 --threads T --epochs E --batch-size B --widths 64,64,64"""
import argparse
import os
import time
# Debian's torch runs its gemms in the pthread build of OpenBLAS, whose threads compete for the cores
# with torch's own OpenMP threads while those spin-wait after each parallel region: on 2 threads that
# made PyTorch slower than on 1. Passive waiting gives it its best speed here (the LM on 2 threads
# 12 -> 31 samples/s); libgomp reads this when torch loads it, so it is set before the import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

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
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(1)
with h5py.File(a.data) as f:
    x = torch.from_numpy(np.asarray(f["X"], np.float32))
    y = torch.from_numpy(np.asarray(f["y"], np.float32)).reshape(len(x), -1)
n_train = int(len(x) * 0.8)  # hpctrain holds out 20% for validation
x, y = (x - x.mean(0)) / x.std(0), (y - y.mean(0)) / y.std(0)
x, y = x[:n_train], y[:n_train]
layers, prev = [], x.shape[1]
for w in map(int, a.widths.split(",")):
    layers += [nn.Linear(prev, w), nn.GELU(approximate="tanh")]
    prev = w
model = nn.Sequential(*layers, nn.Linear(prev, y.shape[1]))
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
timed, samples = 0.0, 0
for epoch in range(a.epochs):
    start = time.perf_counter()
    perm = torch.randperm(n_train)
    for b in range(0, n_train, a.batch_size):
        idx = perm[b:b + a.batch_size]
        opt.zero_grad(set_to_none=False)
        loss = nn.functional.mse_loss(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    if epoch > 0:
        timed += time.perf_counter() - start
        samples += n_train
print(f"{samples / timed:.0f}")
