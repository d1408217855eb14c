#!/usr/bin/python3
"""The gradient one hpctrain SGD step took, against PyTorch autograd on the same weights and rows.

Usage: sgd_step_gradients.py BEFORE.h5 AFTER.h5 DATA.h5 LR [--tol 1e-4]

BEFORE.h5 and AFTER.h5 are hpctrain checkpoints around one step of plain SGD (momentum 0, weight
decay 0, constant lr LR) on every row of DATA.h5 in one batch, so each parameter's gradient is
g = (BEFORE - AFTER) / LR. PyTorch rebuilds the model of BEFORE.h5 (scripts/hpctrain_torch.py) in
float64, runs it on DATA.h5's /X with /lengths, and differentiates hpctrain's loss for per-position
class labels (ce): the mean of the cross-entropies over the positions whose label is not -1 (padding
and unlabelled residues are ignored; PyTorch's cross_entropy(ignore_index=-1)). Prints the worst relative difference ||g - g_torch|| /
||g_torch|| over the parameter tensors and exits 1 when it exceeds the tolerance.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import hpctrain_torch as ht  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("data")
    p.add_argument("lr", type=float)
    p.add_argument("--tol", type=float, default=1e-4)
    a = p.parse_args()
    torch.set_num_threads(1)
    spec, w0, _, std = ht.read_checkpoint(a.before)
    _, w1, _, _ = ht.read_checkpoint(a.after)
    if spec["loss"] != "ce" or std["x_mean"].size:
        sys.exit("sgd_step_gradients.py: expects a ce model trained with --data.standardize false")
    model = ht.build_model(spec).double()
    model.load_state_dict({k: v.double() for k, v in w0.items()})
    with h5py.File(a.data, "r") as f:
        x = torch.from_numpy(np.asarray(f["X"], np.float64))
        lengths = torch.from_numpy(np.asarray(f["lengths"], np.int64))
        y = torch.from_numpy(np.asarray(f["y"], np.int64))
    out = model(x, lengths)  # [N, L, C]
    loss = torch.nn.functional.cross_entropy(out.reshape(y.numel(), -1), y.reshape(-1), ignore_index=-1)
    loss.backward()
    grads = dict(model.named_parameters())
    worst, where = 0.0, ""
    for name, before in w0.items():
        mine = (before.double() - w1[name].double()) / a.lr
        ref = grads[name].grad
        err = float((mine - ref).norm() / max(ref.norm(), 1e-30))
        if err > worst:
            worst, where = err, name
    print(f"{len(w0)} gradient tensors, worst relative difference {worst:.2e} ({where})")
    sys.exit(0 if worst < a.tol else 1)


if __name__ == "__main__":
    main()
