#!/usr/bin/python3
"""PyTorch reference for the C++ check of hpctrain's transformer layers (check_transformer_reference).

Usage: transformer_reference.py OUTDIR [--case block|tabular|features|sequence|lm] [--seed 0]
                                [--activation gelu-exact] [--causal] [--no-padding] [--pooling cls|mean]

Case "block": one nn.TransformerEncoderLayer(D, H, dim_feedforward=F, dropout=0, activation,
batch_first=True, norm_first=True) -- hpctrain's nn::TransformerBlock -- with its parameters named
"blocks.0.<torch name>", on x [N, L, D] with a key padding mask from per-sequence lengths (lengths 1 and L
included) and, with --causal, a causal mask. The loss is the mean squared error against a random target
over every position (padded query rows attend to the valid keys in both implementations). The torch
init is moved off its zeros and ones (biases, LayerNorm) so every gradient is in general position.
Dropout is 0: its random masks cannot match across implementations (the FD tests cover it).

Whole models with their head and loss, 2 blocks each, named as hpctrain's checkpoints (the /model group
holds the ModelSpec attributes, so the checker builds the model with nn::build_model):
  "tabular":  transformer-tabular: FeatureTokenizer (x_f w_f + b_f + feature embedding, CLS token with
              --pooling cls) -> 2 blocks -> LayerNorm -> CLS or mean pooling -> Linear head (2 targets);
              MSE on x [N, F].
  "sequence": transformer on token ids [N, L] with key padding from /lengths (and --causal): Embedding +
              learned positions -> 2 blocks -> LayerNorm -> per-token Linear head (5 classes);
              cross-entropy over /labels [N, L] with ignore_index -1 (padding and some unlabelled
              positions), mean over the labelled ones.
  "features": transformer on per-position features x [N, L, F] with key padding from /lengths: Linear
              projection + learned positions -> 2 blocks -> LayerNorm -> mean over the valid positions
              (position 0 with --pooling cls) -> Linear head (2 targets); MSE on per-row /target [N, T].
  "lm":       the same as hpctrain's lm: byte tokens (vocab 256), causal, 256 next-byte logits per token.

Writes OUTDIR/reference.h5, float32 unless noted:
  root attrs   case, generator, seed, activation (hpctrain name), causal, d_model, heads,
               dim_feedforward, eps, prefix
  /params/<name>            the initial weights, in state_dict order (creation order tracked)
  /x [N, L, D], /target [N, L, D], /lengths int32 [N]  (block; the models: /x [N, F] and /target [N, T],
                            /x [N, L, F], /lengths and /target [N, T] (features), or /tokens int32
                            [N, L], /lengths and /labels int32 [N, L])
  /model                    attrs: the ModelSpec (models only)
  /output [N, L, D]         forward output at the initial weights; root attr loss (float64)
  /grad_input [N, L, D]     d(loss)/dx (block only)
  /grads/<name>             d(loss)/d(param)
  /after_adamw/<name>       after STEPS torch.optim.AdamW steps on the same batch; attrs steps, lr,
                            beta1, beta2, eps, weight_decay; /losses float64 [STEPS], the loss before
                            each step
To add a case, write a make_<case>(args) returning a Case below and register it in CASES; the file
layout stays the same.
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


class Case:
    """module; inputs (name -> tensor, written to the file); forward(module, x) with x the float input
    (requires grad when grad_input) or None; targets(out) -> name -> tensor (drawn after the first
    forward, written); loss(out, targets) -> scalar; model: the /model attributes (None for block)."""

    def __init__(self, module, inputs, forward, targets, loss, grad_input=False, model=None):
        self.module, self.inputs, self.forward = module, inputs, forward
        self.targets, self.loss, self.grad_input, self.model = targets, loss, grad_input, model


def perturb(module):
    with torch.no_grad():  # off torch's zero biases and unit LayerNorm weights
        for name, p in module.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(0.1 * torch.randn_like(p))


def mse(out, t):
    return ((out - t["target"]) ** 2).mean()


def encoder_layer(activation, d=D, heads=HEADS, ff=FF):
    return nn.TransformerEncoderLayer(d, heads, dim_feedforward=ff, dropout=0.0,
                                      activation=ht.ACTIVATIONS[activation](), layer_norm_eps=EPS,
                                      batch_first=True, norm_first=True)


def make_block(args):
    module = Block(args.activation)
    perturb(module)
    x = torch.randn(N, L, D)
    lengths = torch.tensor(LENGTHS if args.padding else [L] * N, dtype=torch.int32)
    key_padding = torch.arange(L)[None, :] >= lengths[:, None].long()  # True = padding, ignored
    causal = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=1) if args.causal else None
    return Case(module, dict(x=x, lengths=lengths), lambda m, x_: m(x_, causal, key_padding),
                lambda out: dict(target=torch.randn_like(out)), mse, grad_input=True)


# ---- whole models: 2 blocks, a head and a loss -------------------------------------------------------
LAYERS, MODEL_D, MODEL_HEADS, MLP_RATIO = 2, 16, 4, 2.0
TAB_N, TAB_F, TAB_T = 8, 5, 2
SEQ_VOCAB, SEQ_MAX_LEN, SEQ_CLASSES = 11, 9, 5


# The models are hpctrain_torch's HpctrainTransformer (the converter's modules), so these checks also
# prove that what to-torch builds computes what hpctrain computes.
MODEL_FIELDS = dict(list(ht.SPEC_FIELDS.items()) + list(ht.TRANSFORMER_SPEC_FIELDS.items()))


def model_attrs(**fields):
    """The /model attributes: every ModelSpec field (hpctrain_torch's SPEC_FIELDS and
    TRANSFORMER_SPEC_FIELDS), defaults overridden."""
    out = {name: default for name, (_, default) in MODEL_FIELDS.items()}
    out.update(d_model=MODEL_D, heads=MODEL_HEADS, layers=LAYERS, mlp_ratio=MLP_RATIO)
    out.update(fields)
    return out


def make_tabular(args):
    spec = model_attrs(type="transformer-tabular", in_features=TAB_F, out_features=TAB_T,
                       activation=args.activation, pooling=args.pooling, loss="mse", task="regression",
                       targets=TAB_T)
    module = ht.build_model(spec)
    perturb(module)
    x = torch.randn(TAB_N, TAB_F)
    return Case(module, dict(x=x), lambda m, x_: m(x_), lambda out: dict(target=torch.randn_like(out)), mse,
                model=spec)


def make_sequence_case(args, lm):
    vocab, out_width = (256, 256) if lm else (SEQ_VOCAB, SEQ_CLASSES)
    causal = lm or args.causal
    spec = model_attrs(type="lm" if lm else "transformer", in_features=0, out_features=out_width,
                       activation=args.activation, loss="ce", task="classification", targets=1,
                       max_length=SEQ_MAX_LEN, vocab_size=vocab, seq_len=L, causal=int(causal),
                       target_level="token")
    module = ht.build_model(spec)
    perturb(module)
    lengths = torch.tensor(LENGTHS if args.padding else [L] * N, dtype=torch.int32)
    tokens = torch.randint(0, vocab, (N, L), dtype=torch.int32)
    tokens[torch.arange(L)[None, :] >= lengths[:, None].long()] = 0  # padding reads as 0

    def targets(out):
        labels = torch.randint(0, out_width, (N, L), dtype=torch.int32)
        labels[torch.arange(L)[None, :] >= lengths[:, None].long()] = -1  # padding
        labels[0, 1] = -1  # an unlabelled position inside a sequence
        return dict(labels=labels)

    def loss(out, t):
        return nn.functional.cross_entropy(out.reshape(-1, out_width), t["labels"].reshape(-1).long(),
                                           ignore_index=-1)

    return Case(module, dict(tokens=tokens, lengths=lengths), lambda m, _: m(tokens, lengths), targets, loss,
                model=spec)


def make_features(args):
    """transformer on per-position features x [N, L, F] (the Linear projection path) with key padding,
    mean pooling over the valid positions (or position 0 with --pooling cls) and per-row MSE."""
    spec = model_attrs(type="transformer", in_features=TAB_F, out_features=TAB_T, activation=args.activation,
                       pooling=args.pooling, loss="mse", task="regression", targets=TAB_T,
                       max_length=SEQ_MAX_LEN, seq_len=L, causal=int(args.causal), target_level="sequence")
    module = ht.build_model(spec)
    perturb(module)
    lengths = torch.tensor(LENGTHS if args.padding else [L] * N, dtype=torch.int32)
    x = torch.randn(N, L, TAB_F)
    x[torch.arange(L)[None, :] >= lengths[:, None].long()] = 0.0  # padding reads as 0
    return Case(module, dict(x=x, lengths=lengths), lambda m, x_: m(x_, lengths),
                lambda out: dict(target=torch.randn_like(out)), mse, model=spec)


CASES = {"block": make_block, "tabular": make_tabular, "features": make_features,
         "sequence": lambda args: make_sequence_case(args, False),
         "lm": lambda args: make_sequence_case(args, True)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("outdir")
    p.add_argument("--case", default="block", choices=sorted(CASES))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--activation", default="gelu-exact", choices=sorted(ht.ACTIVATIONS))
    p.add_argument("--causal", action="store_true")
    p.add_argument("--no-padding", dest="padding", action="store_false")
    p.add_argument("--pooling", default="cls", choices=["cls", "mean"])
    args = p.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(args.seed)

    # Everything random is drawn here, in this order: weights, inputs, targets.
    case = CASES[args.case](args)
    module, inputs, forward = case.module, case.inputs, case.forward
    module.train()  # the plain (differentiable) path; dropout is 0
    init = {n: t.detach().clone() for n, t in module.state_dict().items()}
    x = inputs.get("x")
    if case.grad_input:
        x = x.clone().requires_grad_(True)
    out = forward(module, x)
    targets = case.targets(out)

    loss = case.loss(out, targets)
    loss.backward()
    output = out.detach().clone()
    grad_input = x.grad.detach().clone() if case.grad_input else None
    grads = {n: q.grad.detach().clone() for n, q in module.named_parameters()}

    opt = torch.optim.AdamW(module.parameters(), foreach=False, **ADAMW)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=False)
        value = case.loss(forward(module, inputs.get("x")), targets)
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
            for k, v in dict(case=args.case, activation=args.activation, prefix="blocks.0", pooling=args.pooling,
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
            for name, t in list(inputs.items()) + list(targets.items()):
                f.create_dataset(name, data=t.numpy().astype(np.int32) if t.dtype == torch.int32 else f32(t))
            f.create_dataset("output", data=f32(output))
            if grad_input is not None:
                f.create_dataset("grad_input", data=f32(grad_input))
            if case.model is not None:
                m = f.create_group("model")
                for name, (kind, _) in MODEL_FIELDS.items():
                    v = case.model[name]
                    if kind == "str":
                        m.attrs.create(name, v, dtype=ht.STR_DTYPE)
                    elif kind == "int":
                        m.attrs.create(name, np.int64(v))
                    elif kind == "float":
                        m.attrs.create(name, np.float64(v))
                    else:
                        m.attrs.create(name, np.asarray(v, np.int64).reshape(-1))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    print("%s: case %s, activation %s, causal %d, padding %d, pooling %s, seed %d: loss %.6g -> %.6g (adamw)"
          % (args.outdir, args.case, args.activation, args.causal, args.padding, args.pooling, args.seed,
             losses[0], losses[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
