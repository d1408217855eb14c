#!/usr/bin/python3
"""PyTorch reference for the C++ check of hpctrain's transformer layers (check_transformer_reference).

Usage: transformer_reference.py OUTDIR [--case block] [--seed 0] [--activation gelu-exact] [--causal]
                                [--no-padding]

Case "block": one nn.TransformerEncoderLayer(D, H, dim_feedforward=F, dropout=0, activation,
batch_first=True, norm_first=True) -- hpctrain's nn::TransformerBlock -- with its parameters named
"blocks.0.<torch name>", on x [N, L, D] with a key padding mask from per-sequence lengths (lengths 1 and L
included) and, with --causal, a causal mask. The loss is the mean squared error against a random target
over every position (padded query rows attend to the valid keys in both implementations). The torch
init is moved off its zeros and ones (biases, LayerNorm) so every gradient is in general position.
Dropout is 0: its random masks cannot match across implementations (the FD tests cover it).

Writes OUTDIR/reference.h5, float32 unless noted:
  root attrs   case, generator, seed, activation (hpctrain name), causal, d_model, heads,
               dim_feedforward, eps, prefix
  /params/<name>            the initial weights, in state_dict order (creation order tracked)
  /x [N, L, D], /target [N, L, D], /lengths int32 [N]
  /output [N, L, D]         forward output at the initial weights; root attr loss (float64)
  /grad_input [N, L, D]     d(loss)/dx
  /grads/<name>             d(loss)/d(param)
  /after_adamw/<name>       after STEPS torch.optim.AdamW steps on the same batch; attrs steps, lr,
                            beta1, beta2, eps, weight_decay; /losses float64 [STEPS], the loss before
                            each step
To add a case (e.g. a whole model with a head), write a make_<case>(args) returning
(module, inputs, forward) below and register it in CASES; the file layout stays the same.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import hpctrain_torch as ht  # noqa: E402

N, L, D, HEADS, FF = 4, 7, 16, 4, 32
LENGTHS = [7, 3, 1, 5]
EPS = 1e-5
STEPS = 3
ADAMW = dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)


class Block(nn.Module):
    """One pre-LN encoder layer under the name blocks.0, as hpctrain names it."""

    def __init__(self, activation):
        super().__init__()
        self.blocks = nn.ModuleList([nn.TransformerEncoderLayer(
            D, HEADS, dim_feedforward=FF, dropout=0.0, activation=ht.ACTIVATIONS[activation](),
            layer_norm_eps=EPS, batch_first=True, norm_first=True)])

    def forward(self, x, src_mask, key_padding_mask):
        return self.blocks[0](x, src_mask=src_mask, src_key_padding_mask=key_padding_mask)


def make_block(args):
    module = Block(args.activation)
    with torch.no_grad():  # off torch's zero biases and unit LayerNorm weights
        for name, p in module.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(N, L, D)
    lengths = torch.tensor(LENGTHS if args.padding else [L] * N, dtype=torch.int32)
    key_padding = torch.arange(L)[None, :] >= lengths[:, None].long()  # True = padding, ignored
    causal = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1) if args.causal else None
    return module, dict(x=x, lengths=lengths), lambda m, x_: m(x_, causal, key_padding)


CASES = {"block": make_block}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("outdir")
    p.add_argument("--case", default="block", choices=sorted(CASES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--activation", default="gelu-exact", choices=sorted(ht.ACTIVATIONS))
    p.add_argument("--causal", action="store_true")
    p.add_argument("--no-padding", dest="padding", action="store_false")
    args = p.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(args.seed)

    # Everything random is drawn here, in this order: weights, inputs, target.
    module, inputs, forward = CASES[args.case](args)
    module.train()  # the plain (differentiable) path; dropout is 0
    init = {n: t.detach().clone() for n, t in module.state_dict().items()}
    x = inputs["x"].clone().requires_grad_(True)
    out = forward(module, x)
    target = torch.randn_like(out)

    loss = ((out - target) ** 2).mean()
    loss.backward()
    output, grad_input = out.detach().clone(), x.grad.detach().clone()
    grads = {n: q.grad.detach().clone() for n, q in module.named_parameters()}

    opt = torch.optim.AdamW(module.parameters(), foreach=False, **ADAMW)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=False)
        value = ((forward(module, inputs["x"]) - target) ** 2).mean()
        value.backward()
        losses.append(float(value))
        opt.step()
    assert losses[0] == float(loss)

    def f32(t):
        return t.detach().numpy().astype(np.float32)

    os.makedirs(args.outdir, exist_ok=True)
    path = os.path.join(args.outdir, "reference.h5")
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with h5py.File(tmp, "w") as f:
            for k, v in dict(case=args.case, activation=args.activation, prefix="blocks.0",
                             generator="tests/reference/transformer_reference.py torch %s"
                             % torch.__version__).items():
                f.attrs.create(k, v, dtype=ht.STR_DTYPE)
            for k, v in dict(seed=args.seed, causal=int(args.causal), d_model=D, heads=HEADS,
                             dim_feedforward=FF).items():
                f.attrs.create(k, np.int64(v))
            f.attrs.create("eps", np.float64(EPS))
            f.attrs.create("loss", np.float64(float(loss)))
            for group, tensors in (("params", init), ("grads", grads),
                                   ("after_adamw", module.state_dict())):
                g = f.create_group(group, track_order=True)
                for n, t in tensors.items():
                    g.create_dataset(n, data=f32(t))
            g = f["after_adamw"]
            for k, v in dict(steps=STEPS, lr=ADAMW["lr"], beta1=ADAMW["betas"][0], beta2=ADAMW["betas"][1],
                             eps=ADAMW["eps"], weight_decay=ADAMW["weight_decay"]).items():
                g.attrs.create(k, np.int64(v) if k == "steps" else np.float64(v))
            f.create_dataset("losses", data=np.asarray(losses, np.float64))
            f.create_dataset("x", data=f32(inputs["x"]))
            f.create_dataset("lengths", data=inputs["lengths"].numpy().astype(np.int32))
            f.create_dataset("target", data=f32(target))
            f.create_dataset("output", data=f32(output))
            f.create_dataset("grad_input", data=f32(grad_input))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    print("%s: case %s, activation %s, causal %d, padding %d, seed %d: loss %.6g -> %.6g (adamw)"
          % (args.outdir, args.case, args.activation, args.causal, args.padding, args.seed, losses[0],
             losses[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
