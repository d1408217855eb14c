#!/usr/bin/python3
"""PyTorch reference for the C++ test that compares hpctrain's MLP with PyTorch.

Usage: mlp_reference.py OUTDIR [--seed 0] [--activation gelu-exact] [--loss mse|gaussian-nll|bce|ce]
                        [--layernorm]

Builds an MLP 7 -> 13 -> 11 -> 9 -> out (odd sizes, to catch tiling bugs) with PyTorch's default
init under torch.manual_seed(seed), in float32, draws a batch of N=33 rows, and writes:
  OUTDIR/init.h5       the initial weights, as an hpctrain checkpoint (scripts/hpctrain_torch.py)
  OUTDIR/batch.h5      /X float32 [N, 7]; /y float32 [N, T] (int32 [N] for ce); root attr task
                       (and num_classes for ce), the data set layout of src/data/dataset.hpp
  OUTDIR/reference.h5  /output [N, out] float32   forward output at the init weights
                       attr loss (float64)         mean loss at the init weights
                       attrs loss_kind, activation, layernorm, seed, generator (provenance)
                       /grads/<name>               d(loss)/d(param) at the init weights
                       /after_adamw/<name>, /losses [5]       after 5 AdamW steps, loss before each
                       /after_sgd/<name>, /sgd_losses [5]     after 5 SGD (Nesterov) steps
                       optimizer hyperparameters as root attrs adamw_* and sgd_*, and unprefixed on
                       the /after_adamw and /after_sgd groups
Losses (mean reduction): mse over N*T; gaussian-nll over N*T of 0.5*(s + (t-m)^2*exp(-s)) with the
first T output columns the means m and the last T the log-variances s; bce with logits over N*T;
ce over N rows. The loss of a step is on the full batch; every optimizer step repeats the same batch.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import hpctrain_torch as ht  # noqa: E402

N, IN_FEATURES, WIDTHS = 33, 7, [13, 11, 9]
TARGETS, NUM_CLASSES = 3, 5
STEPS = 5
ADAMW = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
SGD = dict(lr=1e-2, momentum=0.9, dampening=0.0, nesterov=True, weight_decay=0.01)
TASK = {"mse": "regression", "gaussian-nll": "regression", "bce": "binary", "ce": "classification"}


def make_spec(args):
    out = {"mse": TARGETS, "gaussian-nll": 2 * TARGETS, "bce": TARGETS, "ce": NUM_CLASSES}[args.loss]
    return dict(type="mlp", in_features=IN_FEATURES, out_features=out, widths=WIDTHS,
                activation=args.activation, dropout=0.0, layernorm=int(args.layernorm),
                loss=args.loss, task=TASK[args.loss], targets=1 if args.loss == "ce" else TARGETS)


def make_targets(loss):
    if loss == "ce":
        return torch.randint(0, NUM_CLASSES, (N,), dtype=torch.int64)
    if loss == "bce":
        return torch.randint(0, 2, (N, TARGETS)).to(torch.float32)
    return torch.randn(N, TARGETS)


def loss_fn(loss, out, y):
    if loss == "mse":
        return F.mse_loss(out, y)
    if loss == "gaussian-nll":
        m, s = out[:, :TARGETS], out[:, TARGETS:]
        return (0.5 * (s + (y - m) ** 2 * torch.exp(-s))).mean()
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(out, y)
    return F.cross_entropy(out, y)


def train(spec, init, x, y, loss, opt_factory):
    """STEPS optimizer steps on the same batch from the init weights. Returns the model, the losses
    before each step, and the first step's (output, gradients)."""
    model = ht.build_model(spec)
    model.load_state_dict(init)
    opt = opt_factory(model.parameters())
    losses, first = [], None
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=False)
        out = model(x)
        value = loss_fn(loss, out, y)
        value.backward()
        if first is None:
            first = (out.detach().clone(),
                     {n: p.grad.detach().clone() for n, p in model.named_parameters()})
        losses.append(float(value))
        opt.step()
    return model, losses, first


def atomic_h5(path, fill):
    """Writes an HDF5 file through fill(file) to a temporary name, then renames it."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with h5py.File(tmp, "w") as f:
            fill(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_group(f, name, tensors):
    g = f.create_group(name, track_order=True)
    for n, t in tensors.items():
        g.create_dataset(n, data=t.detach().numpy().astype(np.float32))
    return g


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("outdir")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--activation", default="gelu-exact", choices=sorted(ht.ACTIVATIONS))
    p.add_argument("--loss", default="mse", choices=sorted(TASK))
    p.add_argument("--layernorm", action="store_true", help="LayerNorm after each hidden Linear")
    args = p.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(args.seed)

    # Everything random is drawn here, in this order: weights, inputs, targets.
    spec = make_spec(args)
    init = {n: t.clone() for n, t in ht.build_model(spec).state_dict().items()}
    x = torch.randn(N, IN_FEATURES)
    y = make_targets(args.loss)

    adamw_model, adamw_losses, (output, grads) = train(
        spec, init, x, y, args.loss, lambda ps: torch.optim.AdamW(ps, foreach=False, **ADAMW))
    sgd_model, sgd_losses, (sgd_output, _) = train(
        spec, init, x, y, args.loss, lambda ps: torch.optim.SGD(ps, foreach=False, **SGD))
    assert torch.equal(output, sgd_output)

    os.makedirs(args.outdir, exist_ok=True)
    ht.write_checkpoint(os.path.join(args.outdir, "init.h5"), spec, init,
                        config="")

    def fill_batch(f):
        f.create_dataset("X", data=x.numpy().astype(np.float32))
        if args.loss == "ce":
            f.create_dataset("y", data=y.numpy().astype(np.int32))
            f.attrs.create("num_classes", np.int64(NUM_CLASSES))
        else:
            f.create_dataset("y", data=y.numpy().astype(np.float32))
        f.attrs.create("task", TASK[args.loss], dtype=ht.STR_DTYPE)

    def fill_reference(f):
        f.attrs.create("generator", "tests/reference/mlp_reference.py torch %s" % torch.__version__,
                       dtype=ht.STR_DTYPE)
        f.attrs.create("seed", np.int64(args.seed))
        f.attrs.create("activation", args.activation, dtype=ht.STR_DTYPE)
        f.attrs.create("loss_kind", args.loss, dtype=ht.STR_DTYPE)  # "loss" is the value
        f.attrs.create("layernorm", np.int64(args.layernorm))
        f.create_dataset("output", data=output.numpy().astype(np.float32))
        f.attrs.create("loss", np.float64(adamw_losses[0]))
        write_group(f, "grads", grads)

        adamw = dict(steps=STEPS, lr=ADAMW["lr"], beta1=ADAMW["betas"][0],
                     beta2=ADAMW["betas"][1], eps=ADAMW["eps"], weight_decay=ADAMW["weight_decay"])
        g = write_group(f, "after_adamw", adamw_model.state_dict())
        f.create_dataset("losses", data=np.asarray(adamw_losses, np.float64))
        sgd = dict(steps=STEPS, lr=SGD["lr"], momentum=SGD["momentum"], dampening=SGD["dampening"],
                   nesterov=int(SGD["nesterov"]), weight_decay=SGD["weight_decay"])
        h = write_group(f, "after_sgd", sgd_model.state_dict())
        f.create_dataset("sgd_losses", data=np.asarray(sgd_losses, np.float64))
        for grp, prefix, hp in ((g, "adamw_", adamw), (h, "sgd_", sgd)):
            for k, v in hp.items():
                v = np.int64(v) if k in ("steps", "nesterov") else np.float64(v)
                grp.attrs.create(k, v)
                f.attrs.create(prefix + k, v)

    atomic_h5(os.path.join(args.outdir, "batch.h5"), fill_batch)
    atomic_h5(os.path.join(args.outdir, "reference.h5"), fill_reference)
    print("%s: loss %s, activation %s, layernorm %d, seed %d: loss %.6g -> %.6g (adamw), %.6g (sgd)"
          % (args.outdir, args.loss, args.activation, args.layernorm, args.seed, adamw_losses[0],
             adamw_losses[-1], sgd_losses[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
