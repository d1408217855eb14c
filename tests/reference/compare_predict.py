#!/usr/bin/python3
"""A checkpoint converted with `hpctrain_torch.py to-torch`, run in PyTorch, against `hpctrain predict`.

Usage: compare_predict.py MODEL.pt DATA.h5 PREDICTIONS.h5 [--tol 1e-4]

Builds the module from MODEL.pt's spec, loads its state_dict, runs it in eval mode on DATA.h5's inputs
(/X standardized with the checkpoint's x_mean and x_std when they are set, or /tokens; /lengths for
sequences) and interprets the outputs as predict does: mse -> /mean = out y_std + y_mean, gaussian-nll
-> /mean and /var = exp(out[T:]) y_std^2, bce -> /prob = sigmoid, ce -> /prob = softmax and /label =
argmax. Per-token outputs are compared at the valid positions (l < length) only. Prints the worst
difference |a - b| / max(1, |b|) and exits 1 when it exceeds the tolerance (or a label differs where
the top two probabilities are not tied within it).
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
    p.add_argument("model")
    p.add_argument("data")
    p.add_argument("predictions")
    p.add_argument("--tol", type=float, default=1e-4)
    a = p.parse_args()
    torch.set_num_threads(1)
    saved = torch.load(a.model)
    spec = ht.normalize_spec(saved["spec"])
    model = ht.build_model(spec)
    model.load_state_dict(saved["state_dict"])
    model.eval()
    std = {k: v.numpy() for k, v in saved["standardization"].items()}
    with h5py.File(a.data, "r") as f:
        lengths = np.asarray(f["lengths"], np.int64) if "lengths" in f else None
        if "tokens" in f:
            x = torch.from_numpy(np.asarray(f["tokens"], np.int64))
        else:
            xs = np.asarray(f["X"], np.float32)
            if std["x_mean"].size:
                xs = (xs - std["x_mean"]) / std["x_std"]
            x = torch.from_numpy(xs.astype(np.float32))
    with torch.no_grad():
        out = (model(x) if spec["type"] in ("mlp", "transformer-tabular")
               else model(x, None if lengths is None else torch.from_numpy(lengths))).double().numpy()
    t = spec["targets"]
    y_mean = std["y_mean"] if std["y_mean"].size else np.zeros(t)
    y_std = std["y_std"] if std["y_std"].size else np.ones(t)
    mine = {}
    if spec["loss"] in ("mse", "gaussian-nll"):
        mine["mean"] = out[..., :t] * y_std + y_mean
        if spec["loss"] == "gaussian-nll":
            mine["var"] = np.exp(out[..., t:]) * y_std ** 2
    elif spec["loss"] == "bce":
        mine["prob"] = 1.0 / (1.0 + np.exp(-out))
    else:
        z = np.exp(out - out.max(axis=-1, keepdims=True))
        mine["prob"] = z / z.sum(axis=-1, keepdims=True)
    per_token = out.ndim == 3
    valid = (np.arange(out.shape[1])[None, :] < (lengths if lengths is not None else out.shape[1])[:, None]
             if per_token else None)
    worst = 0.0
    with h5py.File(a.predictions, "r") as f:
        for name, value in mine.items():
            theirs = np.asarray(f[name], np.float64)
            if theirs.shape != value.shape:
                print("/%s has shape %s, PyTorch gives %s" % (name, theirs.shape, value.shape))
                return 1
            d = np.abs(value - theirs) / np.maximum(1.0, np.abs(theirs))
            worst = max(worst, float((d[valid] if per_token else d).max()))
        if spec["loss"] == "ce":
            label, prob = np.asarray(f["label"]), mine["prob"]
            top2 = np.sort(prob, axis=-1)[..., -2:]
            clear = (top2[..., 1] - top2[..., 0]) > a.tol
            differs = (label != prob.argmax(axis=-1)) & clear & (valid if per_token else True)
            if differs.any():
                print("/label differs from PyTorch's argmax at %d positions" % int(differs.sum()))
                return 1
    print("%s: %s, %d outputs: worst relative difference %.2e" % (a.model, spec["type"], out.size, worst))
    return 0 if worst <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
