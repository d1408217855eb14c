#!/usr/bin/python3
"""Tests of scripts/hpctrain_torch.py (checkpoint <-> PyTorch) and tests/reference/mlp_reference.py.

Plain script: runs every test_* function, prints one line per test and a summary
'N passed, M failed', and exits non-zero when any test fails. Usage: test_converter.py [-k SUBSTRING]
"""
import collections
import os
import subprocess
import sys
import tempfile
import traceback

import h5py
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.normpath(os.path.join(HERE, "..", "..", "scripts", "hpctrain_torch.py"))
REFERENCE = os.path.join(HERE, "mlp_reference.py")
sys.path.insert(0, os.path.dirname(SCRIPT))
import hpctrain_torch as ht  # noqa: E402

SPEC = dict(type="mlp", in_features=5, out_features=4, widths=[6, 3], activation="gelu-exact",
            dropout=0.25, layernorm=1, loss="gaussian-nll", task="regression", targets=2)


def random_state_dict(spec, seed=1):
    torch.manual_seed(seed)
    model = ht.build_model(spec)
    with torch.no_grad():
        for p in model.parameters():  # LayerNorm starts at 1/0; make every value distinct
            p.copy_(torch.randn_like(p))
    return model.state_dict()


def run_cli(*args):
    r = subprocess.run([sys.executable, SCRIPT] + [str(a) for a in args],
                       capture_output=True, text=True)
    return r.returncode, r.stdout, r.stderr


def expect_cli_error(args, *needles):
    """The CLI fails with status 1 and a single stderr line containing every needle."""
    rc, out, err = run_cli(*args)
    assert rc == 1, "exit %d for %s (stderr: %s)" % (rc, args, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, "expected one stderr line, got: %r" % err
    for n in needles:
        assert n in lines[0], "%r not in %r" % (n, lines[0])
    return lines[0]


def assert_same_params(a, b):
    assert list(a) == list(b), "names/order differ: %s vs %s" % (list(a), list(b))
    for n in a:
        assert a[n].dtype == torch.float32 and b[n].dtype == torch.float32, n
        assert torch.equal(a[n], b[n]), "parameter %s differs" % n


def expected_names(widths, layernorm, dropout):
    """State_dict names of the hpctrain MLP, spelled out from the layout rule."""
    names, i = [], 0
    for _ in widths:
        names += ["layers.%d.weight" % i, "layers.%d.bias" % i]
        i += 1
        if layernorm:
            names += ["layers.%d.weight" % i, "layers.%d.bias" % i]
            i += 1
        i += 1 + (dropout > 0)  # activation, dropout
    return names + ["layers.%d.weight" % i, "layers.%d.bias" % i]


# ---- checkpoint files --------------------------------------------------------------------------

def test_write_read_round_trip(tmp):
    sd = random_state_dict(SPEC)
    std = dict(x_mean=np.arange(5), x_std=np.full(5, 2.0), y_mean=[0.5, -1], y_std=[3, 4])
    config = "[model]\nactivation = gelu-exact\n; ünïcode ✓\n"
    path = os.path.join(tmp, "ckpt.h5")
    ht.write_checkpoint(path, SPEC, sd, config=config, standardization=std, epoch=7, step=123)
    assert os.listdir(tmp) == ["ckpt.h5"], "temporary file left: %s" % os.listdir(tmp)

    spec, sd2, config2, std2, epoch, step = ht.read_checkpoint(path, with_counters=True)
    assert dict(spec) == SPEC, spec
    assert_same_params(sd, sd2)
    assert config2 == config and (epoch, step) == (7, 123)
    for k in ht.STANDARDIZATION_KEYS:
        assert std2[k].dtype == np.float32 and np.array_equal(std2[k], np.asarray(std[k], np.float32))
    assert len(ht.read_checkpoint(path)) == 4


def test_file_layout_types(tmp):
    """The exact HDF5 types the C++ reader expects (src/train/checkpoint.hpp)."""
    path = os.path.join(tmp, "ckpt.h5")
    ht.write_checkpoint(path, SPEC, random_state_dict(SPEC), config="x")

    def kind(obj, name):
        a = obj.attrs.get_id(name)
        if h5py.check_string_dtype(a.dtype) is not None:
            info = h5py.check_string_dtype(a.dtype)
            return "str-%s-%s-%s" % (info.encoding, "vlen" if info.length is None else "fixed",
                                     a.shape)
        return "%s-%s" % (a.dtype.str, a.shape)

    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "hpctrain-checkpoint"
        root = {n: kind(f, n) for n in f.attrs}
        assert root == {"format": "str-utf-8-vlen-()", "version": "<i8-()", "config": "str-utf-8-vlen-()",
                        "epoch": "<i8-()", "step": "<i8-()"}, root
        assert f.attrs["version"] == 1
        model = {n: kind(f["model"], n) for n in f["model"].attrs}
        s, i = "str-utf-8-vlen-()", "<i8-()"
        assert model == {"type": s, "in_features": i, "out_features": i, "widths": "<i8-(2,)",
                         "activation": s, "dropout": "<f8-()", "layernorm": i, "loss": s,
                         "task": s, "targets": i}, model
        params = f["params"]
        assert params.id.get_create_plist().get_link_creation_order(), "/params must track order"
        assert list(params) == expected_names([6, 3], 1, 0.25)
        for n in params:
            assert params[n].dtype == np.float32, n
        assert params["layers.0.weight"].shape == (6, 5)
        std = f["standardization"]
        assert sorted(std) == sorted(ht.STANDARDIZATION_KEYS)
        for k in std:
            assert std[k].dtype == np.float32 and std[k].shape == (0,), (k, std[k].shape)


def test_no_hidden_layers(tmp):
    spec = dict(in_features=3, out_features=1, widths=[])
    path = os.path.join(tmp, "lin.h5")
    sd = random_state_dict(spec)
    assert list(sd) == ["layers.0.weight", "layers.0.bias"]
    ht.write_checkpoint(path, spec, sd)
    with h5py.File(path, "r") as f:
        assert f["model"].attrs.get_id("widths").shape == (0,)
    spec2, sd2, _, _ = ht.read_checkpoint(path)
    assert spec2["widths"] == [] and spec2["targets"] == 1
    assert_same_params(sd, sd2)


def test_read_untracked_order_is_model_order(tmp):
    """A /params group without creation order is read in model order (layers.2 before .10, weight before bias)."""
    spec = dict(in_features=2, out_features=1, widths=[3] * 6)
    sd = random_state_dict(spec)
    path = os.path.join(tmp, "c.h5")
    ht.write_checkpoint(path, spec, sd)
    with h5py.File(path, "a") as f:  # rebuild /params without order tracking
        del f["params"]
        g = f.create_group("params")
        for n in sorted(sd):
            g.create_dataset(n, data=sd[n].numpy())
    _, sd2, _, _ = ht.read_checkpoint(path)
    assert_same_params(sd, sd2)


def test_read_errors(tmp):
    missing = os.path.join(tmp, "nope.h5")
    try:
        ht.read_checkpoint(missing)
        raise AssertionError("no error")
    except FileNotFoundError as e:
        assert "nope.h5" in str(e)
    text = os.path.join(tmp, "text.h5")
    with open(text, "w") as f:
        f.write("hello\n")
    other = os.path.join(tmp, "other.h5")
    with h5py.File(other, "w") as f:
        f.create_dataset("X", data=np.zeros(3))
    path = os.path.join(tmp, "v2.h5")
    ht.write_checkpoint(path, SPEC, random_state_dict(SPEC))
    with h5py.File(path, "a") as f:
        f.attrs["version"] = np.int64(2)
    nolayer = os.path.join(tmp, "noattr.h5")
    ht.write_checkpoint(nolayer, SPEC, random_state_dict(SPEC))
    with h5py.File(nolayer, "a") as f:
        del f["model"].attrs["activation"]
    for p, needle in ((text, "not an HDF5 file"), (other, "not an hpctrain checkpoint"),
                      (path, "version 2"), (nolayer, "'activation' is missing")):
        try:
            ht.read_checkpoint(p)
            raise AssertionError("no error for %s" % p)
        except ValueError as e:
            assert needle in str(e) and p in str(e), str(e)


def test_write_rejects_bad_input_and_leaves_nothing(tmp):
    sd = random_state_dict(SPEC)
    sd["layers.4.weight"] = torch.zeros(3, 7)
    path = os.path.join(tmp, "bad.h5")
    try:
        ht.write_checkpoint(path, SPEC, sd)
        raise AssertionError("no error")
    except ValueError as e:
        assert "layers.4.weight" in str(e) and "[3, 7]" in str(e) and "[3, 6]" in str(e), str(e)
    bad_specs = [(dict(SPEC, out_features=3), "out_features 3"),
                 (dict(SPEC, loss="huber"), "'huber'"),
                 (dict(SPEC, task="ranking"), "'ranking'"),
                 (dict(SPEC, dropout=1.5), "dropout"),
                 (dict(SPEC, colour="red"), "'colour'")]
    for spec, needle in bad_specs:
        try:
            ht.write_checkpoint(path, spec, random_state_dict(SPEC))
            raise AssertionError("no error for %s" % spec)
        except ValueError as e:
            assert needle in str(e), str(e)
    try:
        ht.write_checkpoint(path, SPEC, random_state_dict(SPEC), standardization=dict(x_mean=[1, 2]))
        raise AssertionError("no error")
    except ValueError as e:
        assert "x_mean" in str(e)
    assert os.listdir(tmp) == [], os.listdir(tmp)


# ---- model -------------------------------------------------------------------------------------

def test_build_model_names_and_modules(tmp):
    kinds = {"relu": (torch.nn.ReLU, None), "gelu": (torch.nn.GELU, "tanh"),
             "gelu-tanh": (torch.nn.GELU, "tanh"), "gelu-exact": (torch.nn.GELU, "none"),
             "tanh": (torch.nn.Tanh, None), "silu": (torch.nn.SiLU, None),
             "identity": (torch.nn.Identity, None)}
    assert sorted(kinds) == sorted(ht.ACTIVATIONS)
    for act, (cls, approx) in kinds.items():
        for layernorm in (0, 1):
            for dropout in (0.0, 0.1):
                widths = [4, 5, 3]
                m = ht.build_model(dict(in_features=2, out_features=3, widths=widths,
                                        activation=act, layernorm=layernorm, dropout=dropout))
                sd = m.state_dict()
                assert list(sd) == expected_names(widths, layernorm, dropout), (act, list(sd))
                mods = list(m.layers)
                assert len(mods) == len(widths) * (2 + layernorm + (dropout > 0)) + 1
                acts = [x for x in mods if isinstance(x, cls)]
                assert len(acts) == len(widths), (act, mods)
                if approx is not None:
                    assert all(a.approximate == approx for a in acts), act
                lns = [x for x in mods if isinstance(x, torch.nn.LayerNorm)]
                assert len(lns) == layernorm * len(widths)
                assert all(ln.eps == 1e-5 and ln.elementwise_affine for ln in lns)
                drops = [x for x in mods if isinstance(x, torch.nn.Dropout)]
                assert len(drops) == (dropout > 0) * len(widths)
                assert all(d.p == dropout for d in drops)
                assert m(torch.zeros(4, 2)).shape == (4, 3)
    # Shapes: Linear weights are [out, in].
    sd = ht.build_model(dict(in_features=2, out_features=3, widths=[4], layernorm=1)).state_dict()
    assert [list(t.shape) for t in sd.values()] == [[4, 2], [4], [4], [4], [3, 4], [3]]


def test_build_model_unknown_values(tmp):
    for spec, needle in ((dict(in_features=2, out_features=1, activation="swish"), "'swish'"),
                         (dict(type="cnn", in_features=2, out_features=1), "'cnn'")):
        try:
            ht.build_model(spec)
            raise AssertionError("no error for %s" % spec)
        except ValueError as e:
            assert needle in str(e), str(e)


# ---- transformers ------------------------------------------------------------------------------

TRANSFORMER_SPECS = [
    dict(type="transformer-tabular", in_features=5, out_features=2, targets=2, d_model=8, heads=2, layers=2,
         mlp_ratio=1.5, pooling="cls", activation="gelu-exact"),
    dict(type="transformer", in_features=3, out_features=1, d_model=8, heads=4, layers=1, max_length=6,
         seq_len=6, pooling="mean"),
    dict(type="lm", in_features=0, out_features=256, loss="ce", task="classification", targets=1, d_model=8,
         heads=2, layers=1, max_length=7, vocab_size=256, seq_len=7, causal=1, target_level="token"),
]


def transformer_names(spec):
    """hpctrain's parameter names for a transformer spec, spelled out (src/nn/*.cpp)."""
    if spec["type"] == "transformer-tabular":
        names = ["tokenizer.weight", "tokenizer.bias"] + (["tokenizer.cls_token"] if spec["pooling"] == "cls" else [])
        names += ["tokenizer.feature_embedding.weight"]
    else:
        names = (["embed.weight"] if spec.get("vocab_size", 0) else ["proj.weight", "proj.bias"]) + ["pos.weight"]
    for i in range(spec["layers"]):
        names += ["blocks.%d.%s" % (i, n) for n in (
            "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight",
            "self_attn.out_proj.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
            "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias")]
    return names + ["norm.weight", "norm.bias", "head.weight", "head.bias"]


def test_transformer_names_and_round_trip(tmp):
    for i, spec in enumerate(TRANSFORMER_SPECS):
        sd = random_state_dict(spec, seed=i)
        assert list(sd) == transformer_names(spec), list(sd)
        ff = sd["blocks.0.linear1.weight"].shape[0]
        assert ff == int(spec.get("mlp_ratio", 4.0) * spec["d_model"] + 0.5), ff
        path = os.path.join(tmp, "t%d.h5" % i)
        ht.write_checkpoint(path, spec, sd, config="c")
        got, sd2, _, _ = ht.read_checkpoint(path)
        assert dict(got) == dict(ht.normalize_spec(spec)), got
        assert_same_params(sd, sd2)
        with h5py.File(path, "r") as f:  # the transformer fields are stored, with the C++ types
            assert f["model"].attrs["d_model"] == spec["d_model"] and f["model"].attrs["d_model"].dtype == np.int64
            assert f["model"].attrs["mlp_ratio"].dtype == np.float64
            assert f["model"].attrs["pooling"] == spec.get("pooling", "mean")


def test_transformer_forward_shapes_and_masks(tmp):
    torch.manual_seed(0)
    tab, seq, lm = (ht.build_model(s).eval() for s in TRANSFORMER_SPECS)
    assert tab(torch.randn(4, 5)).shape == (4, 2)
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 2, 4])
    pooled = seq(x, lengths)
    assert pooled.shape == (3, 1)
    # Mean pooling over valid positions only: what lies past a row's length changes nothing.
    x2 = x.clone()
    x2[1, 2:] = 100.0
    assert torch.allclose(seq(x2, lengths), pooled, atol=1e-6)
    tokens = torch.randint(0, 256, (2, 7))
    logits = lm(tokens)
    assert logits.shape == (2, 7, 256)
    # Causal: position i does not see later tokens.
    t2 = tokens.clone()
    t2[:, 4:] = (t2[:, 4:] + 1) % 256
    assert torch.allclose(lm(t2)[:, :4], logits[:, :4], atol=1e-6)
    assert not torch.allclose(lm(t2)[:, 4:], logits[:, 4:], atol=1e-6)


def test_transformer_spec_errors(tmp):
    base = TRANSFORMER_SPECS[1]
    for change, needle in ((dict(heads=3), "'d_model' (8) is not divisible by 'heads' (3)"),
                           (dict(pooling="max"), "'pooling' must be one of mean, cls, got 'max'"),
                           (dict(max_length=0), "'max_length' must be >= 1 for a transformer model"),
                           (dict(target_level="word"), "'target_level'"),
                           (dict(mlp_ratio=0.0), "'mlp_ratio'"),
                           (dict(causal=1, pooling="cls"), "'pooling' cls with 'causal' 1"),
                           (dict(in_features=0), "'in_features' must be >= 1"),
                           (dict(colour=1), "unknown model spec field 'colour'")):
        try:
            ht.build_model(dict(base, **change))
            raise AssertionError("no error for %s" % change)
        except ValueError as e:
            assert needle in str(e), (change, str(e))


# ---- CLI ---------------------------------------------------------------------------------------

def test_cli_to_torch_from_torch_round_trip(tmp):
    sd = random_state_dict(SPEC)
    std = dict(x_mean=np.ones(5), x_std=np.ones(5) * 2, y_mean=[1, 2], y_std=[3, 4])
    ckpt, pt, back = (os.path.join(tmp, n) for n in ("a.h5", "a.pt", "b.h5"))
    ht.write_checkpoint(ckpt, SPEC, sd, config="cfg = 1\n", standardization=std, epoch=3, step=30)
    rc, out, err = run_cli("to-torch", ckpt, pt)
    assert rc == 0, err
    d = torch.load(pt)
    assert d["spec"] == SPEC and d["config"] == "cfg = 1\n" and (d["epoch"], d["step"]) == (3, 30)
    assert_same_params(sd, d["state_dict"])
    model = ht.build_model(d["spec"])
    model.load_state_dict(d["state_dict"])  # strict

    rc, out, err = run_cli("from-torch", pt, back)
    assert rc == 0, err
    a, b = ht.read_checkpoint(ckpt, True), ht.read_checkpoint(back, True)
    assert a[0] == b[0] and a[2] == b[2] and a[4:] == b[4:]
    assert_same_params(a[1], b[1])
    for k in ht.STANDARDIZATION_KEYS:
        assert np.array_equal(a[3][k], b[3][k]), k

    rc, out, err = run_cli("show", back)
    assert rc == 0, err
    assert "layers.4.weight  [3, 6]" in out and "gaussian-nll" in out and "match" in out, out


def test_cli_from_bare_state_dict(tmp):
    sd = random_state_dict(SPEC)
    pt, out1, out2, ref = (os.path.join(tmp, n) for n in ("w.pt", "1.h5", "2.h5", "ref.h5"))
    torch.save(sd, pt)
    rc, _, err = run_cli("from-torch", pt, out1, "--in-features", 5, "--out-features", 4,
                         "--widths", "6,3", "--activation", "gelu-exact", "--dropout", 0.25,
                         "--layernorm", 1, "--loss", "gaussian-nll", "--task", "regression",
                         "--targets", 2)
    assert rc == 0, err
    spec, sd1, config, _ = ht.read_checkpoint(out1)
    assert spec == SPEC and config == ""
    assert_same_params(sd, sd1)

    # --spec-from takes the spec (and config, standardization) from another checkpoint.
    ht.write_checkpoint(ref, SPEC, random_state_dict(SPEC, seed=5), config="from ref\n")
    rc, _, err = run_cli("from-torch", pt, out2, "--spec-from", ref)
    assert rc == 0, err
    spec, sd2, config, _ = ht.read_checkpoint(out2)
    assert spec == SPEC and config == "from ref\n"
    assert_same_params(sd, sd2)

    # Float64 weights are stored as float32; a pickled module works too.
    m = ht.build_model(SPEC).double()
    torch.save(m, pt)
    rc, _, err = run_cli("from-torch", pt, out2, "--spec-from", ref)
    assert rc == 0, err
    assert_same_params(collections.OrderedDict((k, v.float()) for k, v in m.state_dict().items()),
                       ht.read_checkpoint(out2)[1])


def test_cli_shape_mismatch(tmp):
    sd = random_state_dict(SPEC)
    sd["layers.4.weight"] = torch.zeros(3, 7)
    pt, out = os.path.join(tmp, "w.pt"), os.path.join(tmp, "o.h5")
    torch.save(sd, pt)
    line = expect_cli_error(
        ("from-torch", pt, out, "--in-features", 5, "--out-features", 4, "--widths", "6,3",
         "--activation", "gelu-exact", "--dropout", 0.25, "--layernorm", 1, "--loss",
         "gaussian-nll", "--targets", 2),
        "layers.4.weight", "[3, 7]", "[3, 6]")
    assert "Traceback" not in line
    assert not os.path.exists(out) and os.listdir(tmp) == ["w.pt"], os.listdir(tmp)

    # Missing and extra parameters, and a spec that does not fit (wrong widths).
    ok = random_state_dict(SPEC)
    del ok["layers.1.bias"]
    torch.save(ok, pt)
    ref = os.path.join(tmp, "ref.h5")
    ht.write_checkpoint(ref, SPEC, random_state_dict(SPEC))
    expect_cli_error(("from-torch", pt, out, "--spec-from", ref), "layers.1.bias", "missing")
    ok = random_state_dict(SPEC)
    ok["head.weight"] = torch.zeros(2, 2)
    torch.save(ok, pt)
    expect_cli_error(("from-torch", pt, out, "--spec-from", ref), "head.weight", "[2, 2]")
    torch.save(random_state_dict(SPEC), pt)
    expect_cli_error(("from-torch", pt, out, "--in-features", 5, "--out-features", 4, "--widths",
                      "6,4", "--layernorm", 1, "--dropout", 0.25, "--loss", "gaussian-nll"),
                     "layers.4.weight", "[3, 6]", "[4, 6]")
    assert not os.path.exists(out)


def test_cli_bad_input(tmp):
    missing = os.path.join(tmp, "missing.h5")
    expect_cli_error(("to-torch", missing, os.path.join(tmp, "x.pt")), "missing.h5", "no such file")
    expect_cli_error(("show", missing), "missing.h5")
    expect_cli_error(("from-torch", os.path.join(tmp, "missing.pt"), missing), "missing.pt")
    junk = os.path.join(tmp, "junk.pt")
    with open(junk, "w") as f:
        f.write("not a torch file\n")
    expect_cli_error(("from-torch", junk, missing, "--in-features", 2, "--out-features", 1))
    pt = os.path.join(tmp, "w.pt")
    torch.save(random_state_dict(SPEC), pt)
    expect_cli_error(("from-torch", pt, missing), "no model spec")
    expect_cli_error(("from-torch", pt, missing, "--in-features", 5, "--out-features", 4,
                      "--activation", "swish"), "'swish'")
    expect_cli_error(("from-torch", pt, missing, "--out-features", 4), "--in-features")
    expect_cli_error(("from-torch", pt, missing, "--in-features", 5, "--out-features", 4,
                      "--widths", "6,x"), "--widths")
    assert not os.path.exists(missing)


# ---- reference generator -----------------------------------------------------------------------

def adamw_manual(params, grads_fn, steps, lr, b1, b2, eps, wd):
    """AdamW as written in kernels/kernels.hpp (the C++ contract), in float32."""
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    for t in range(1, steps + 1):
        grads = grads_fn(params)
        for p, g, mi, vi in zip(params, grads, m, v):
            p.mul_(1 - lr * wd)
            mi.mul_(b1).add_((1 - b1) * g)
            vi.mul_(b2).add_((1 - b2) * g * g)
            p.sub_(lr * (mi / (1 - b1 ** t)) / ((vi / (1 - b2 ** t)).sqrt() + eps))
    return params


def sgd_manual(params, grads_fn, steps, lr, momentum, wd):
    """Nesterov SGD as written in kernels/kernels.hpp, in float32."""
    bufs = [None] * len(params)
    for _ in range(steps):
        grads = grads_fn(params)
        for i, (p, g) in enumerate(zip(params, grads)):
            g = g + wd * p
            bufs[i] = g.clone() if bufs[i] is None else momentum * bufs[i] + g
            p.sub_(lr * (g + momentum * bufs[i]))
    return params


def check_reference(outdir, loss, layernorm):
    spec, sd, _, _ = ht.read_checkpoint(os.path.join(outdir, "init.h5"))
    assert spec["loss"] == loss and spec["layernorm"] == layernorm and spec["widths"] == [13, 11, 9]
    assert spec["in_features"] == 7
    with h5py.File(os.path.join(outdir, "batch.h5"), "r") as f:
        x = torch.from_numpy(f["X"][()])
        y = torch.from_numpy(f["y"][()])
        assert f.attrs["task"] == spec["task"]
        assert x.shape == (33, 7) and x.dtype == torch.float32
        if loss == "ce":
            assert y.dtype == torch.int32 and y.shape == (33,) and f.attrs["num_classes"] == 5
            y = y.long()
        else:
            assert y.dtype == torch.float32 and y.shape == (33, 3)
    with h5py.File(os.path.join(outdir, "reference.h5"), "r") as f:
        ref = {k: f[k][()] for k in ("output", "losses", "sgd_losses")}
        attrs = dict(f.attrs)
        groups = {g: {n: torch.from_numpy(f[g][n][()]) for n in f[g]}
                  for g in ("grads", "after_adamw", "after_sgd")}
    assert attrs["adamw_steps"] == 5 and attrs["sgd_nesterov"] == 1 and attrs["loss_kind"] == loss
    out_width = {"mse": 3, "gaussian-nll": 6, "bce": 3, "ce": 5}[loss]
    assert ref["output"].shape == (33, out_width) and ref["output"].dtype == np.float32
    for g in groups.values():
        assert list(g) == list(sd), list(g)

    # Independent recomputation of output, loss and gradients from the files.
    torch.set_num_threads(1)
    model = ht.build_model(spec)
    model.load_state_dict(sd)

    def loss_of(out):
        if loss == "gaussian-nll":
            m, s = out[:, :3], out[:, 3:]
            return F.gaussian_nll_loss(m, y, torch.exp(s), eps=1e-30)  # PyTorch's own (full=False)
        return {"mse": F.mse_loss, "bce": F.binary_cross_entropy_with_logits,
                "ce": F.cross_entropy}[loss](out, y)

    out = model(x)
    value = loss_of(out)
    value.backward()
    assert np.allclose(out.detach().numpy(), ref["output"], rtol=0, atol=1e-6)
    assert abs(float(value) - attrs["loss"]) < 1e-6 * max(1, abs(attrs["loss"])), (value, attrs["loss"])
    assert abs(ref["losses"][0] - attrs["loss"]) == 0 and abs(ref["sgd_losses"][0] - attrs["loss"]) == 0
    for n, p in model.named_parameters():
        assert torch.allclose(p.grad, groups["grads"][n], rtol=1e-4, atol=1e-6), n

    # The optimizer results follow the update rules the C++ kernels document.
    def grads_fn(params):
        m = ht.build_model(spec)
        m.load_state_dict(dict(zip(sd, params)))
        loss_of(m(x)).backward()
        return [p.grad for p in m.parameters()]

    init = [t.clone() for t in sd.values()]
    adamw = adamw_manual([t.clone() for t in init], grads_fn, 5, attrs["adamw_lr"],
                         attrs["adamw_beta1"], attrs["adamw_beta2"], attrs["adamw_eps"],
                         attrs["adamw_weight_decay"])
    sgd = sgd_manual([t.clone() for t in init], grads_fn, 5, attrs["sgd_lr"], attrs["sgd_momentum"],
                     attrs["sgd_weight_decay"])
    for n, a, s in zip(sd, adamw, sgd):
        assert torch.allclose(a, groups["after_adamw"][n], rtol=0, atol=2e-5), ("adamw", n)
        assert torch.allclose(s, groups["after_sgd"][n], rtol=0, atol=2e-6), ("sgd", n)
        assert not torch.equal(a, sd[n]), "AdamW did not move %s" % n
    assert ref["losses"][-1] < ref["losses"][0]


def test_reference_generator(tmp):
    cases = [("mse", False, "gelu-exact"), ("gaussian-nll", False, "gelu"), ("bce", True, "silu"),
             ("ce", True, "tanh")]
    for loss, layernorm, act in cases:
        outdir = os.path.join(tmp, loss)
        cmd = [sys.executable, REFERENCE, outdir, "--loss", loss, "--activation", act, "--seed", 3]
        r = subprocess.run([str(c) for c in cmd + (["--layernorm"] if layernorm else [])],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert sorted(os.listdir(outdir)) == ["batch.h5", "init.h5", "reference.h5"]
        check_reference(outdir, loss, int(layernorm))


def test_reference_generator_is_deterministic(tmp):
    def run(outdir):
        r = subprocess.run([sys.executable, REFERENCE, outdir, "--loss", "gaussian-nll"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        with h5py.File(os.path.join(outdir, "reference.h5"), "r") as f:
            data = {}
            f.visititems(lambda n, o: data.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset)
                         else None)
            return data
    a, b = run(os.path.join(tmp, "a")), run(os.path.join(tmp, "b"))
    assert list(a) == list(b)
    for n in a:
        assert np.array_equal(a[n], b[n]), n


def main():
    only = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "-k" else ""
    tests = [(n, f) for n, f in globals().items()  # in definition order
             if n.startswith("test_") and callable(f) and only in n]
    passed = failed = 0
    for name, fn in tests:
        with tempfile.TemporaryDirectory(prefix="hpctrain_torch_test.") as tmp:
            try:
                fn(tmp)
                passed += 1
                print("PASS %s" % name)
            except Exception:
                failed += 1
                print("FAIL %s\n%s" % (name, traceback.format_exc()))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
