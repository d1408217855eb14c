#!/usr/bin/python3
"""PyTorch interoperability for hpctrain checkpoints: mlp and transformer models.

hpctrain's `mlp` model is, parameter for parameter, this PyTorch module (HpctrainMLP below):

    layers = nn.Sequential(
        Linear(in_features, w0), [LayerNorm(w0)], Act, [Dropout(p)],
        Linear(w0, w1),          [LayerNorm(w1)], Act, [Dropout(p)],
        ...
        Linear(w_last, out_features))
    forward(x) = layers(x)

LayerNorm (eps 1e-5, affine) is present when `layernorm` is 1, Dropout when `dropout` > 0. The
activations are: relu -> nn.ReLU, gelu and gelu-tanh -> nn.GELU(approximate="tanh"), gelu-exact ->
nn.GELU(), tanh -> nn.Tanh, silu -> nn.SiLU, identity -> nn.Identity. Activation and Dropout modules
have no parameters but take up an index, so with layernorm=1 and dropout=0 the names are
layers.0.weight [w0, in], layers.0.bias [w0], layers.1.weight [w0] (LayerNorm), layers.1.bias,
layers.3.weight [w1, w0], ... A checkpoint stores exactly these state_dict names and shapes.

The transformer models (`transformer-tabular`, `transformer`, `lm`) are HpctrainTransformer below,
with torch.nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=round(mlp_ratio d_model),
dropout, activation, layer_norm_eps=1e-5, batch_first=True, norm_first=True) as each block:
    transformer-tabular: tokenizer.{weight, bias, feature_embedding.weight} [F, D] (token f =
        x_f weight[f] + bias[f] + feature_embedding.weight[f]), tokenizer.cls_token [D] first with
        pooling cls -> blocks.<i>.* -> norm -> mean over tokens or the CLS token -> head (Linear)
    transformer, lm: embed.weight [vocab, D] (token ids) or proj.{weight, bias} (Linear over
        per-position features) + pos.weight[:L] -> blocks with key padding from the lengths (and a
        causal mask when causal is 1) -> norm -> head per token (target_level token), or mean over
        the valid positions / position 0 (pooling cls) then head
forward(x) for tabular models, forward(x_or_tokens, lengths=None) for sequence models (lengths None:
every position valid). Model outputs equal hpctrain's (the transformer reference tests check these
modules against the C++ layers on identical weights: outputs, gradients and AdamW steps).

Checkpoint layout (version 1, see src/train/checkpoint.hpp):
    /                 attrs format="hpctrain-checkpoint", version=1 (int64), config (str),
                      epoch, step (int64)
    /model            attrs type, activation, loss, task (str); in_features, out_features,
                      targets, layernorm (int64; layernorm 0/1); widths (int64 1-D array, possibly
                      empty); dropout (float64); transformers add d_model, heads, layers,
                      max_length, vocab_size, seq_len, causal (int64), mlp_ratio (float64),
                      pooling, target_level (str)
    /params/<name>    float32 datasets, one per state_dict entry, in model order (creation order
                      is tracked)
    /standardization  x_mean, x_std [in_features], y_mean, y_std [targets] float32 (empty if off)
Strings are variable-length UTF-8. Files are written to "<path>.tmp.<pid>" and renamed.

Note on standardization: hpctrain trains on standardized data when standardization is on. The network
then sees (x - x_mean) / x_std and its (regression) output is in standardized units, y = out * y_std
+ y_mean. The converter copies these arrays but never folds them into the weights.

Bringing weights from an existing PyTorch script
------------------------------------------------
(For a transformer, build HpctrainTransformer from the spec the same way and give from-torch the spec
with --spec-from CKPT, e.g. a checkpoint of a short hpctrain run with the same model options.)
1. Build the equivalent module and copy your weights into it, renaming as needed:
       import sys; sys.path.insert(0, "<hpctrain>/scripts")
       import hpctrain_torch as ht
       spec = dict(in_features=7, out_features=3, widths=[64, 64], activation="gelu-exact")
       model = ht.build_model(spec)
       # e.g. your network is nn.Sequential stored as `net`: rename net.N.* -> layers.N.*
       sd = {k.replace("net.", "layers.", 1): v for k, v in my_model.state_dict().items()}
       model.load_state_dict(sd)            # strict: fails on any missing or extra name
       torch.save(model.state_dict(), "weights.pt")
2. Convert it to a checkpoint, giving the spec either from flags or from an existing checkpoint:
       hpctrain_torch.py from-torch weights.pt init.h5 --in-features 7 --out-features 3 \\
           --widths 64,64 --activation gelu-exact --loss mse --task regression --targets 1
       hpctrain_torch.py from-torch weights.pt init.h5 --spec-from run/checkpoint.h5
   Every parameter of the model must be present with the right shape and nothing extra; errors name
   the parameter and both shapes.
The other way, `to-torch CKPT OUT.pt` writes {"spec", "state_dict", "config", "standardization",
"epoch", "step"}; load it with
       d = torch.load("OUT.pt"); model = ht.build_model(d["spec"]); model.load_state_dict(d["state_dict"])

Checking hpctrain against PyTorch
---------------------------------
tests/reference/mlp_reference.py builds a small MLP with PyTorch's default init, writes it as a
checkpoint (init.h5) with a batch (batch.h5), and records the forward output, the loss, the gradients
and the weights after 5 AdamW and 5 SGD steps (reference.h5); the C++ test loads init.h5, does the same
and compares. For your own model: convert the PyTorch weights with from-torch, run hpctrain's predict
or evaluation on the same inputs, and compare with model(x) in PyTorch (float32 agrees to ~1e-5
relative). `show CKPT` prints the spec and parameter shapes and checks them against each other.

CLI:  to-torch CKPT OUT.pt | from-torch IN.pt OUT.h5 [spec options] | show CKPT
Errors print one line on stderr and exit with status 1 (2 for command-line usage errors).
"""
import argparse
import collections
import math
import os
import re
import signal
import sys

import h5py
import numpy as np
import torch
from torch import nn

FORMAT = "hpctrain-checkpoint"
VERSION = 1

# ModelSpec fields (src/nn/model_spec.hpp) with their stored kind and default.
SPEC_FIELDS = collections.OrderedDict([
    ("type", ("str", "mlp")),
    ("in_features", ("int", 0)),
    ("out_features", ("int", 0)),
    ("widths", ("int_array", [64, 64, 64])),
    ("activation", ("str", "gelu")),
    ("dropout", ("float", 0.0)),
    ("layernorm", ("int", 0)),
    ("loss", ("str", "mse")),
    ("task", ("str", "regression")),
    ("targets", ("int", 1)),
])
# The transformer models' fields (src/nn/model_spec.hpp): read and written for the transformer types
# only (an mlp checkpoint may carry them; they say nothing about an mlp and are dropped).
TRANSFORMER_SPEC_FIELDS = collections.OrderedDict([
    ("d_model", ("int", 64)),
    ("heads", ("int", 4)),
    ("layers", ("int", 2)),
    ("mlp_ratio", ("float", 4.0)),
    ("max_length", ("int", 0)),
    ("vocab_size", ("int", 0)),
    ("seq_len", ("int", 0)),
    ("pooling", ("str", "mean")),
    ("causal", ("int", 0)),
    ("target_level", ("str", "sequence")),
])
# The convolutional models' fields (cnn1d, unet1d), read and written for them only.
CONV_SPEC_FIELDS = collections.OrderedDict([
    ("channels", ("int", 64)),
    ("kernel_size", ("int", 5)),
    ("dilations", ("int_array", [1, 2, 4, 8])),
])
MODEL_TYPES = ("mlp", "transformer-tabular", "transformer", "lm", "cnn1d", "unet1d")
CONV_TYPES = ("cnn1d", "unet1d")
POOLINGS = ("mean", "cls")
TARGET_LEVELS = ("sequence", "token")
LAYER_NORM_EPS = 1e-5
LOSSES = ("mse", "gaussian-nll", "bce", "ce")
TASKS = ("regression", "binary", "classification")
STANDARDIZATION_KEYS = ("x_mean", "x_std", "y_mean", "y_std")

# Activation name -> module factory.
ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": lambda: nn.GELU(approximate="tanh"),
    "gelu-tanh": lambda: nn.GELU(approximate="tanh"),
    "gelu-exact": nn.GELU,
    "tanh": nn.Tanh,
    "silu": nn.SiLU,
    "identity": nn.Identity,
}

STR_DTYPE = h5py.string_dtype("utf-8")


# ---- model -------------------------------------------------------------------------------------

class HpctrainMLP(nn.Module):
    """hpctrain's `mlp` model; parameter names match hpctrain's checkpoint (layers.<i>.weight)."""

    def __init__(self, in_features, out_features, widths, activation="gelu", dropout=0.0,
                 layernorm=False):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError("unknown activation '%s' (valid: %s)"
                             % (activation, ", ".join(ACTIVATIONS)))
        mods = []
        prev = in_features
        for w in widths:
            mods.append(nn.Linear(prev, w))
            if layernorm:
                mods.append(nn.LayerNorm(w, eps=1e-5))
            mods.append(ACTIVATIONS[activation]())
            if dropout > 0:
                mods.append(nn.Dropout(dropout))
            prev = w
        mods.append(nn.Linear(prev, out_features))
        self.layers = nn.Sequential(*mods)

    def forward(self, x):
        return self.layers(x)


class FeatureTokenizer(nn.Module):
    """hpctrain's nn::FeatureTokenizer: token f = x_f weight[f] + bias[f] + feature_embedding[f], and a
    CLS token at position 0 when cls is set."""

    def __init__(self, features, d, cls):
        super().__init__()
        b = 1.0 / math.sqrt(d)
        self.weight = nn.Parameter(torch.empty(features, d).uniform_(-b, b))
        self.bias = nn.Parameter(torch.empty(features, d).uniform_(-b, b))
        self.feature_embedding = nn.Embedding(features, d)
        self.cls_token = nn.Parameter(torch.empty(d).uniform_(-b, b)) if cls else None

    def forward(self, x):
        t = x[..., None] * self.weight + self.bias + self.feature_embedding.weight
        if self.cls_token is not None:
            t = torch.cat([self.cls_token.expand(x.shape[0], 1, -1), t], dim=1)
        return t


def feed_forward_width(spec):
    """round(mlp_ratio d_model), halves away from zero (C++ std::llround)."""
    return int(math.floor(spec["mlp_ratio"] * spec["d_model"] + 0.5))


class HpctrainTransformer(nn.Module):
    """hpctrain's transformer-tabular, transformer and lm (see the module docstring); parameters are
    registered in hpctrain's order under its checkpoint names."""

    def __init__(self, spec):
        super().__init__()
        s = normalize_spec(spec, check_loss=False)
        d, self.type = s["d_model"], s["type"]
        self.pooling, self.per_token, self.causal = s["pooling"], s["target_level"] == "token", bool(s["causal"])
        if self.type == "transformer-tabular":
            self.tokenizer = FeatureTokenizer(s["in_features"], d, self.pooling == "cls")
        else:
            if s["vocab_size"] > 0:
                self.embed = nn.Embedding(s["vocab_size"], d)
            else:
                self.proj = nn.Linear(s["in_features"], d)
            self.pos = nn.Embedding(s["max_length"], d)
        self.blocks = nn.ModuleList([
            nn.TransformerEncoderLayer(d, s["heads"], dim_feedforward=feed_forward_width(s), dropout=s["dropout"],
                                       activation=ACTIVATIONS[s["activation"]](), layer_norm_eps=LAYER_NORM_EPS,
                                       batch_first=True, norm_first=True) for _ in range(s["layers"])])
        for block in self.blocks:
            # torch 1.13's inference fast path would run any nn.GELU as the exact GELU, approximate="tanh"
            # or not; this attribute only gates that path, so clearing it keeps every mode exact.
            if hasattr(block, "activation_relu_or_gelu"):
                block.activation_relu_or_gelu = 0
        self.norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)
        self.head = nn.Linear(d, s["out_features"])

    def forward(self, x, lengths=None):
        if self.type == "transformer-tabular":
            t = self.tokenizer(x)
            for block in self.blocks:
                t = block(t)
            t = self.norm(t)
            return self.head(t[:, 0] if self.pooling == "cls" else t.mean(dim=1))
        n, length = x.shape[0], x.shape[1]
        t = self.embed(x.long()) if hasattr(self, "embed") else self.proj(x)
        t = t + self.pos.weight[:length]
        if lengths is None:
            lengths = torch.full((n,), length, dtype=torch.long)
        valid = torch.arange(length)[None, :] < torch.as_tensor(lengths).long()[:, None]  # [N, L]
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1) if self.causal else None
        for block in self.blocks:
            t = block(t, src_mask=causal, src_key_padding_mask=~valid)
        t = self.norm(t)
        if self.per_token:
            return self.head(t)
        if self.pooling == "cls":
            return self.head(t[:, 0])
        v = valid[..., None].to(t.dtype)
        return self.head((t * v).sum(dim=1) / v.sum(dim=1))


class HpctrainCnn1d(nn.Module):
    """hpctrain's cnn1d (src/nn/cnn1d.hpp) on x [N, L, F] with lengths: nn.Conv1d over channels, every
    conv's input zeroed at padded positions (l >= length) and its output too, as hpctrain's masked
    convolutions; outputs at padded positions are not compared (the losses skip them)."""

    def __init__(self, spec):
        super().__init__()
        s = normalize_spec(spec, check_loss=False)
        c, k = s["channels"], s["kernel_size"]
        self.stem = nn.Conv1d(s["in_features"], c, k, padding=(k - 1) // 2)
        self.blocks = nn.ModuleList()
        for i in range(s["layers"]):
            d = s["dilations"][i % len(s["dilations"])]
            block = nn.Module()
            block.norm = nn.LayerNorm(c, eps=LAYER_NORM_EPS)
            block.conv = nn.Conv1d(c, c, k, dilation=d, padding=d * (k - 1) // 2)
            self.blocks.append(block)
        self.norm = nn.LayerNorm(c, eps=LAYER_NORM_EPS)
        self.head = nn.Linear(c, s["out_features"])
        self.act = ACTIVATIONS[s["activation"]]()

    def forward(self, x, lengths=None):
        n, length = x.shape[0], x.shape[1]
        if lengths is None:
            lengths = torch.full((n,), length, dtype=torch.long)
        v = (torch.arange(length)[None, :] < torch.as_tensor(lengths).long()[:, None])[..., None].to(x.dtype)

        def conv(module, t):  # [N, L, C] -> masked conv -> [N, L, C']
            return module((t * v).transpose(1, 2)).transpose(1, 2) * v

        h = conv(self.stem, x)
        for block in self.blocks:
            h = h + conv(block.conv, self.act(block.norm(h)))
        return self.head(self.act(self.norm(h)))


class HpctrainUnet1d(nn.Module):
    """hpctrain's unet1d (src/nn/unet1d.hpp) on x [N, L, F] with lengths: a stem nn.Conv1d, `layers`
    levels of LayerNorm, act, nn.Conv1d(stride 2) down and LayerNorm, act, nn.ConvTranspose1d(stride 2,
    output_size = the level's length) up, the encoder's activations added to the decoder's (skips).
    Level i holds ceil(L_{i-1} / 2) positions of which ceil(len_{i-1} / 2) are valid; every conv's input
    is zeroed past its valid positions, a conv's output past ceil(len / 2), a transposed conv's past
    2 len_{i+1}, as hpctrain's masked kernels do."""

    def __init__(self, spec):
        super().__init__()
        s = normalize_spec(spec, check_loss=False)
        c, k, p = s["channels"], s["kernel_size"], (s["kernel_size"] - 1) // 2
        self.stem = nn.Conv1d(s["in_features"], c, k, padding=p)

        def stage(conv):
            m = nn.Module()
            m.norm = nn.LayerNorm(c, eps=LAYER_NORM_EPS)
            m.conv = conv
            return m
        self.down = nn.ModuleList(stage(nn.Conv1d(c, c, k, stride=2, padding=p)) for _ in range(s["layers"]))
        self.up = nn.ModuleList(stage(nn.ConvTranspose1d(c, c, k, stride=2, padding=p))
                                for _ in range(s["layers"]))
        self.norm = nn.LayerNorm(c, eps=LAYER_NORM_EPS)
        self.head = nn.Linear(c, s["out_features"])
        self.act = ACTIVATIONS[s["activation"]]()

    def forward(self, x, lengths=None):
        n, length = x.shape[0], x.shape[1]
        lens = [torch.full((n,), length, dtype=torch.long) if lengths is None
                else torch.as_tensor(lengths).long()]
        sizes = [length]
        for _ in self.down:
            lens.append((lens[-1] + 1) // 2)
            sizes.append((sizes[-1] + 1) // 2)

        def mask(valid, size, t):  # zero positions >= valid of t [N, size, C]
            return t * (torch.arange(size)[None, :] < valid[:, None])[..., None].to(t.dtype)

        def conv(module, t, i, o, transposed=False):  # level i -> level o, channels last
            t = mask(lens[i], sizes[i], t).transpose(1, 2)
            t = module(t, output_size=[sizes[o]]) if transposed else module(t)
            valid = torch.minimum(2 * lens[i], torch.tensor(sizes[o])) if transposed else lens[o]
            return mask(valid, sizes[o], t.transpose(1, 2))

        h = [conv(self.stem, x, 0, 0)]
        for i, st in enumerate(self.down):
            h.append(conv(st.conv, self.act(st.norm(h[i])), i, i + 1))
        u = h[-1]
        for i in reversed(range(len(self.up))):
            st = self.up[i]
            u = h[i] + conv(st.conv, self.act(st.norm(u)), i + 1, i, transposed=True)
        return self.head(self.act(self.norm(u)))


def normalize_spec(spec, check_loss=True):
    """Returns a complete spec dict with plain Python types. Absent fields take the ModelSpec
    defaults, except targets, which follows from loss and out_features (ce: 1). Raises ValueError
    naming the field and value when a field is unknown or invalid; with check_loss, also when
    out_features does not fit the loss and targets."""
    known = list(SPEC_FIELDS) + list(TRANSFORMER_SPEC_FIELDS) + list(CONV_SPEC_FIELDS)
    unknown = [k for k in spec if k not in known]
    if unknown:
        raise ValueError("unknown model spec field '%s' (valid: %s)" % (unknown[0], ", ".join(known)))
    model_type = spec.get("type", SPEC_FIELDS["type"][1])
    transformer = model_type != "mlp"
    out = collections.OrderedDict()
    for name, (kind, default) in _spec_fields(model_type if model_type in CONV_TYPES else
                                              "transformer" if transformer else "mlp"):
        v = spec.get(name, default)
        if name == "targets" and name not in spec:
            v = {"mse": out["out_features"], "bce": out["out_features"],
                 "gaussian-nll": max(out["out_features"] // 2, 1)}.get(out["loss"], 1)
        try:
            if kind == "str":
                if not isinstance(v, str):
                    raise TypeError
            elif kind == "int":
                if isinstance(v, (float, np.floating)) and v != int(v):
                    raise TypeError
                v = int(v)
            elif kind == "float":
                v = float(v)
            else:  # int_array
                v = [int(x) for x in np.atleast_1d(np.asarray(v)).tolist()]
        except (TypeError, ValueError):
            raise ValueError("model spec field '%s' has invalid value %r" % (name, v)) from None
        out[name] = v
    if out["type"] not in MODEL_TYPES:
        raise ValueError("unknown model type '%s' (valid: %s)" % (out["type"], ", ".join(MODEL_TYPES)))
    if out["activation"] not in ACTIVATIONS:
        raise ValueError("unknown activation '%s' (valid: %s)"
                         % (out["activation"], ", ".join(ACTIVATIONS)))
    if out["loss"] not in LOSSES:
        raise ValueError("unknown loss '%s' (valid: %s)" % (out["loss"], ", ".join(LOSSES)))
    if out["task"] not in TASKS:
        raise ValueError("unknown task '%s' (valid: %s)" % (out["task"], ", ".join(TASKS)))
    tokens = transformer and out["type"] != "transformer-tabular" and out["vocab_size"] > 0
    for name in ("out_features", "targets") + (() if tokens else ("in_features",)):
        if out[name] < 1:
            raise ValueError("model spec field '%s' must be >= 1, got %d" % (name, out[name]))
    if transformer:
        _check_transformer_spec(out)
    if out["type"] in CONV_TYPES:
        if out["channels"] < 1 or out["kernel_size"] < 1 or out["kernel_size"] % 2 == 0:
            raise ValueError("model spec fields 'channels' (%d) and 'kernel_size' (%d, odd) must be >= 1"
                             % (out["channels"], out["kernel_size"]))
        if not out["dilations"] or any(d < 1 for d in out["dilations"]):
            raise ValueError("model spec field 'dilations' must be positive, got %s" % out["dilations"])
    if any(w < 1 for w in out["widths"]):
        raise ValueError("model spec field 'widths' must be positive, got %s" % out["widths"])
    if not 0.0 <= out["dropout"] < 1.0:
        raise ValueError("model spec field 'dropout' must be in [0, 1), got %g" % out["dropout"])
    if out["layernorm"] not in (0, 1):
        raise ValueError("model spec field 'layernorm' must be 0 or 1, got %d" % out["layernorm"])
    if not check_loss:
        return out
    # The output width follows from the loss (ce: any number of classes, one label column).
    want = {"mse": out["targets"], "bce": out["targets"], "gaussian-nll": 2 * out["targets"]}
    if out["loss"] in want and out["out_features"] != want[out["loss"]]:
        raise ValueError("out_features %d does not fit loss '%s' with targets %d (expected %d)"
                         % (out["out_features"], out["loss"], out["targets"], want[out["loss"]]))
    if out["loss"] == "ce" and out["targets"] != 1:
        raise ValueError("loss 'ce' needs targets 1 (one label column), got %d" % out["targets"])
    return out


def _spec_fields(model_type):
    """(name, (kind, default)) of the /model attributes a checkpoint of this type holds."""
    extra = list(TRANSFORMER_SPEC_FIELDS.items()) if model_type != "mlp" else []
    if model_type in CONV_TYPES:
        extra += list(CONV_SPEC_FIELDS.items())
    return list(SPEC_FIELDS.items()) + extra


def _check_transformer_spec(s):
    """The transformer fields of a normalized spec; raises ValueError naming the field and value."""
    for name in ("d_model", "heads", "layers"):
        if s[name] < 1:
            raise ValueError("model spec field '%s' must be >= 1, got %d" % (name, s[name]))
    if s["d_model"] % s["heads"]:
        raise ValueError("model spec field 'd_model' (%d) is not divisible by 'heads' (%d)"
                         % (s["d_model"], s["heads"]))
    if not s["mlp_ratio"] > 0 or feed_forward_width(s) < 1:
        raise ValueError("model spec field 'mlp_ratio' must give a feed-forward width >= 1, got %g"
                         % s["mlp_ratio"])
    if s["pooling"] not in POOLINGS:
        raise ValueError("model spec field 'pooling' must be one of %s, got '%s'"
                         % (", ".join(POOLINGS), s["pooling"]))
    if s["target_level"] not in TARGET_LEVELS:
        raise ValueError("model spec field 'target_level' must be one of %s, got '%s'"
                         % (", ".join(TARGET_LEVELS), s["target_level"]))
    if s["causal"] not in (0, 1):
        raise ValueError("model spec field 'causal' must be 0 or 1, got %d" % s["causal"])
    if s["causal"] and s["pooling"] == "cls" and s["target_level"] == "sequence":
        raise ValueError("model spec field 'pooling' cls with 'causal' 1: position 0 attends only to itself "
                         "under causal attention (hpctrain refuses this model)")
    if s["vocab_size"] < 0:
        raise ValueError("model spec field 'vocab_size' must be >= 0, got %d" % s["vocab_size"])
    if s["type"] != "transformer-tabular" and s["max_length"] < 1:
        raise ValueError("model spec field 'max_length' must be >= 1 for a %s model, got %d"
                         % (s["type"], s["max_length"]))


def build_model(spec):
    """The module for a spec dict (fields as src/nn/model_spec.hpp; absent ones default):
    HpctrainMLP for mlp, HpctrainTransformer for the transformer types."""
    s = normalize_spec(spec, check_loss=False)
    if s["type"] == "cnn1d":
        return HpctrainCnn1d(s)
    if s["type"] == "unet1d":
        return HpctrainUnet1d(s)
    if s["type"] != "mlp":
        return HpctrainTransformer(s)
    return HpctrainMLP(s["in_features"], s["out_features"], s["widths"], s["activation"],
                       s["dropout"], bool(s["layernorm"]))


def _shape(t):
    return list(t.shape)


def _as_tensor(v):
    return v.detach().cpu() if torch.is_tensor(v) else torch.as_tensor(np.asarray(v))


def check_state_dict(spec, state_dict):
    """Checks that state_dict has exactly the parameters of build_model(spec), with the same shapes
    and finite floating-point values. Returns an OrderedDict in model order, as float32 tensors."""
    with torch.random.fork_rng(devices=[]):  # only names and shapes are used; keep the RNG state
        expected = build_model(spec).state_dict()
    out = collections.OrderedDict()
    for name, ref in expected.items():
        if name not in state_dict:
            raise ValueError("parameter %s %s is missing" % (name, _shape(ref)))
        got = _as_tensor(state_dict[name])
        if _shape(got) != _shape(ref):
            raise ValueError("parameter %s has shape %s, the model expects %s"
                             % (name, _shape(got), _shape(ref)))
        if not got.is_floating_point():
            raise ValueError("parameter %s has dtype %s, expected floating point" % (name, got.dtype))
        if not bool(torch.isfinite(got).all()):
            raise ValueError("parameter %s contains NaN or Inf" % name)
        out[name] = got.to(torch.float32).contiguous()
    extra = [n for n in state_dict if n not in expected]
    if extra:
        raise ValueError("parameter %s %s is not in the model (%s)"
                         % (extra[0], _shape(_as_tensor(state_dict[extra[0]])), describe_spec(spec)))
    return out


def describe_spec(spec):
    s = normalize_spec(spec, check_loss=False)
    return " ".join("%s=%s" % (k, ",".join(map(str, v)) if isinstance(v, list) else v)
                    for k, v in s.items())


# ---- checkpoint files --------------------------------------------------------------------------

def _standardization(std, spec):
    """Standardization arrays as float32 1-D numpy arrays (empty when off), checked against spec."""
    std = dict(std or {})
    unknown = [k for k in std if k not in STANDARDIZATION_KEYS]
    if unknown:
        raise ValueError("unknown standardization entry '%s' (valid: %s)"
                         % (unknown[0], ", ".join(STANDARDIZATION_KEYS)))
    out = {}
    for k in STANDARDIZATION_KEYS:
        v = std.get(k)
        if torch.is_tensor(v):
            v = v.detach().cpu().numpy()
        out[k] = np.zeros(0, np.float32) if v is None else np.asarray(v, np.float32).reshape(-1)
    for a, b, n in (("x_mean", "x_std", spec["in_features"]), ("y_mean", "y_std", spec["targets"])):
        la, lb = out[a].size, out[b].size
        if la != lb or la not in (0, n):
            raise ValueError("standardization %s [%d] and %s [%d] must both be empty or of length %d"
                             % (a, la, b, lb, n))
    return out


def write_checkpoint(path, spec, state_dict, config="", standardization=None, epoch=0, step=0):
    """Writes an hpctrain checkpoint (layout version 1) atomically. The parameters are checked
    against the spec (check_state_dict) and written in model order as float32."""
    spec = normalize_spec(spec)
    params = check_state_dict(spec, state_dict)
    std = _standardization(standardization, spec)
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs.create("format", FORMAT, dtype=STR_DTYPE)
            f.attrs.create("version", np.int64(VERSION))
            f.attrs.create("config", str(config), dtype=STR_DTYPE)
            f.attrs.create("epoch", np.int64(epoch))
            f.attrs.create("step", np.int64(step))
            m = f.create_group("model")
            for name, (kind, _) in _spec_fields(spec["type"]):
                v = spec[name]
                if kind == "str":
                    m.attrs.create(name, v, dtype=STR_DTYPE)
                elif kind == "int":
                    m.attrs.create(name, np.int64(v))
                elif kind == "float":
                    m.attrs.create(name, np.float64(v))
                else:  # always a 1-D int64 array (shape (0,) when there are no hidden layers)
                    m.attrs.create(name, np.asarray(v, np.int64).reshape(-1))
            p = f.create_group("params", track_order=True)
            for name, t in params.items():
                p.create_dataset(name, data=t.numpy().astype(np.float32, copy=False))
            s = f.create_group("standardization")
            for k in STANDARDIZATION_KEYS:
                s.create_dataset(k, data=std[k])
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _param_order_key(name):
    """Model order for names like layers.10.weight: by module index, then weight before bias."""
    module, _, leaf = name.rpartition(".")
    return ([int(t) if t.isdigit() else t for t in re.split(r"(\d+)", module)],
            {"weight": 0, "bias": 1}.get(leaf, 2), leaf)


def _open_h5(path):
    if not os.path.exists(path):
        raise FileNotFoundError("%s: no such file" % path)
    if not h5py.is_hdf5(path):
        raise ValueError("%s: not an HDF5 file" % path)
    return h5py.File(path, "r")


def _read_attr(path, obj, name, kind):
    """One attribute of obj, converted to the Python type for kind; errors name file and attr."""
    where = "%s: %s attribute '%s'" % (path, obj.name, name)
    if name not in obj.attrs:
        raise ValueError("%s is missing" % where)
    v = obj.attrs[name]
    if isinstance(v, h5py.Empty):  # a null dataspace: only an empty int array makes sense
        if kind == "int_array":
            return []
        raise ValueError("%s is empty" % where)
    arr = np.asarray(v)
    if kind == "str":
        if isinstance(v, bytes):
            return v.decode("utf-8")
        if not isinstance(v, str):
            raise ValueError("%s should be a string, found %s" % (where, arr.dtype))
        return v
    if kind == "int_array":
        if arr.dtype.kind not in "iu" and arr.size:
            raise ValueError("%s should be an integer array, found %s" % (where, arr.dtype))
        return [int(x) for x in arr.reshape(-1)]
    if arr.size != 1:
        raise ValueError("%s should be a scalar, found shape %s" % (where, list(arr.shape)))
    if kind == "int":
        if arr.dtype.kind not in "iub":
            raise ValueError("%s should be an integer, found %s" % (where, arr.dtype))
        return int(arr.reshape(-1)[0])
    if arr.dtype.kind not in "iuf":  # float
        raise ValueError("%s should be a number, found %s" % (where, arr.dtype))
    return float(arr.reshape(-1)[0])


def read_checkpoint(path, with_counters=False):
    """Reads an hpctrain checkpoint. Returns (spec, state_dict, config, standardization):
    spec a dict of the /model attributes, state_dict an OrderedDict name -> float32 tensor in the
    file's order, config the INI text, standardization a dict of float32 numpy arrays (empty when off).
    With with_counters=True, (epoch, step) is appended to the tuple."""
    with _open_h5(path) as f:
        fmt = f.attrs.get("format")
        if isinstance(fmt, bytes):
            fmt = fmt.decode("utf-8", "replace")
        if fmt != FORMAT:
            raise ValueError("%s: not an hpctrain checkpoint (root attribute 'format' is %r)"
                             % (path, fmt))
        version = _read_attr(path, f, "version", "int")
        if version != VERSION:
            raise ValueError("%s: checkpoint version %d is not supported (this reader knows %d)"
                             % (path, version, VERSION))
        config = _read_attr(path, f, "config", "str")
        epoch = _read_attr(path, f, "epoch", "int")
        step = _read_attr(path, f, "step", "int")
        for g in ("model", "params"):
            if not isinstance(f.get(g), h5py.Group):
                raise ValueError("%s: group /%s is missing" % (path, g))
        spec = collections.OrderedDict(
            (name, _read_attr(path, f["model"], name, kind))
            for name, (kind, _) in SPEC_FIELDS.items())
        # The transformer fields; absent ones read as their defaults, as the C++ reader does.
        for name, (kind, default) in _spec_fields(spec["type"])[len(SPEC_FIELDS):]:
            spec[name] = _read_attr(path, f["model"], name, kind) if name in f["model"].attrs else default
        # Creation order when the group tracks it (h5py iterates that way); otherwise model order.
        grp = f["params"]
        names = list(grp)
        if not grp.id.get_create_plist().get_link_creation_order():
            names.sort(key=_param_order_key)
        state_dict = collections.OrderedDict()
        for name in names:
            ds = grp[name]
            if not isinstance(ds, h5py.Dataset) or ds.dtype.kind != "f":
                raise ValueError("%s: /params/%s is not a floating-point dataset" % (path, name))
            state_dict[name] = torch.from_numpy(np.ascontiguousarray(ds[()], dtype=np.float32))
        # As the C++ reader: an absent /standardization group or dataset means "off" for that part.
        std = {}
        for k in STANDARDIZATION_KEYS:
            ds = f.get("standardization/" + k)
            std[k] = (np.zeros(0, np.float32) if ds is None
                      else np.asarray(ds[()], np.float32).reshape(-1))
    if with_counters:
        return spec, state_dict, config, std, epoch, step
    return spec, state_dict, config, std


# ---- CLI ---------------------------------------------------------------------------------------

def _cmd_to_torch(args):
    spec, sd, config, std, epoch, step = read_checkpoint(args.ckpt, with_counters=True)
    sd = check_state_dict(spec, sd)
    torch.save({"spec": dict(spec), "state_dict": sd, "config": config,
                "standardization": {k: torch.from_numpy(v) for k, v in std.items()},
                "epoch": epoch, "step": step}, args.out)
    print("%s: %d parameters (%s) -> %s" % (args.ckpt, len(sd), describe_spec(spec), args.out))
    return 0


SPEC_FLAGS = ("in_features", "out_features", "widths", "activation", "dropout", "layernorm",
              "loss", "task", "targets")


def _cmd_from_torch(args):
    if not os.path.exists(args.input):
        raise FileNotFoundError("%s: no such file" % args.input)
    obj = torch.load(args.input, map_location="cpu")
    extras = {}
    if isinstance(obj, nn.Module):
        sd, file_spec = obj.state_dict(), None
    elif isinstance(obj, dict) and "state_dict" in obj:
        sd, file_spec = obj["state_dict"], obj.get("spec")
        extras = {k: obj[k] for k in ("config", "standardization", "epoch", "step") if k in obj}
    elif isinstance(obj, dict) and all(torch.is_tensor(v) for v in obj.values()):
        sd, file_spec = obj, None
    else:
        raise ValueError("%s: expected a state_dict or a dict with 'state_dict', found %s"
                         % (args.input, type(obj).__name__))
    given = [f for f in SPEC_FLAGS if getattr(args, f) is not None]
    if args.spec_from and given:
        raise ValueError("--spec-from and --%s cannot be combined" % given[0].replace("_", "-"))
    if args.spec_from:
        spec, _, config, std, epoch, step = read_checkpoint(args.spec_from, with_counters=True)
        # Take config and standardization from that checkpoint unless IN.pt carries its own.
        extras = dict(dict(config=config, standardization=std), **extras)
    elif given:
        missing = [f for f in ("in_features", "out_features") if getattr(args, f) is None]
        if missing:
            raise ValueError("--%s is required when the spec is given by options"
                             % missing[0].replace("_", "-"))
        spec = {f: getattr(args, f) for f in given}
        if "widths" in spec:
            try:
                spec["widths"] = [int(w) for w in spec["widths"].split(",") if w.strip()]
            except ValueError:
                raise ValueError("--widths must be comma-separated integers, got '%s'"
                                 % args.widths) from None
    elif file_spec is not None:
        spec = file_spec
    else:
        raise ValueError("%s holds no model spec: pass --spec-from CKPT or --in-features, "
                         "--out-features, --widths, ..." % args.input)
    spec = normalize_spec(spec)
    try:
        write_checkpoint(args.out, spec, sd, config=extras.get("config", ""),
                         standardization=extras.get("standardization"),
                         epoch=int(extras.get("epoch", 0)), step=int(extras.get("step", 0)))
    except ValueError as e:  # name the input: the parameters or standardization it holds are wrong
        raise ValueError("%s: %s" % (args.input, e)) from None
    print("%s: %d parameters (%s) -> %s" % (args.input, len(sd), describe_spec(spec), args.out))
    return 0


def _cmd_show(args):
    spec, sd, config, std, epoch, step = read_checkpoint(args.ckpt, with_counters=True)
    print("%s: %s version %d, epoch %d, step %d" % (args.ckpt, FORMAT, VERSION, epoch, step))
    print("model: " + " ".join("%s=%s" % (k, ",".join(map(str, v)) if isinstance(v, list) else v)
                               for k, v in spec.items()))
    total = sum(t.numel() for t in sd.values())
    print("params: %d tensors, %d values" % (len(sd), total))
    width = max((len(n) for n in sd), default=0)
    for name, t in sd.items():
        print("  %-*s  %s" % (width, name, list(t.shape)))
    on = ["%s [%d]" % (k, v.size) for k, v in std.items() if v.size]
    print("standardization: " + (", ".join(on) if on else "off"))
    print("config: %d lines" % len(config.splitlines()))
    check_state_dict(spec, sd)  # raises (exit 1) when parameters and spec disagree
    print("parameters match the model spec")
    return 0


def make_parser():
    p = argparse.ArgumentParser(
        prog="hpctrain_torch.py",
        description="Convert hpctrain checkpoints to and from PyTorch state_dicts.",
        epilog="See the module docstring (pydoc scripts/hpctrain_torch.py) for the mapping.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    t = sub.add_parser("to-torch", help="checkpoint -> torch.save'd dict with spec and state_dict")
    t.add_argument("ckpt", metavar="CKPT")
    t.add_argument("out", metavar="OUT.pt")
    t.set_defaults(func=_cmd_to_torch)

    fr = sub.add_parser("from-torch", help="state_dict (or to-torch output) -> checkpoint")
    fr.add_argument("input", metavar="IN.pt")
    fr.add_argument("out", metavar="OUT.h5")
    fr.add_argument("--spec-from", metavar="CKPT", help="take the model spec from this checkpoint")
    fr.add_argument("--in-features", type=int)
    fr.add_argument("--out-features", type=int)
    fr.add_argument("--widths", help="hidden widths, comma-separated (default 64,64,64)")
    fr.add_argument("--activation", help="default gelu")
    fr.add_argument("--dropout", type=float, help="default 0")
    fr.add_argument("--layernorm", type=int, choices=(0, 1), help="default 0")
    fr.add_argument("--loss", help="mse | gaussian-nll | bce | ce (default mse)")
    fr.add_argument("--task", help="regression | binary | classification (default regression)")
    fr.add_argument("--targets", type=int, help="default 1")
    fr.set_defaults(func=_cmd_from_torch)

    s = sub.add_parser("show", help="print the spec and parameter shapes of a checkpoint")
    s.add_argument("ckpt", metavar="CKPT")
    s.set_defaults(func=_cmd_show)
    return p


def main(argv=None):
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `show CKPT | head` ends quietly
    args = make_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:  # one line on stderr, no traceback, for any bad input
        msg = " ".join(str(e).split()) or type(e).__name__
        print("hpctrain_torch.py: error: %s" % msg, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
