# predict, convert, info and --init end to end, and a checkpoint from the C++ trainer loaded into
# PyTorch through scripts/hpctrain_torch.py giving the same predictions as `hpctrain predict`.
source "$(dirname "$0")/../lib.sh"

# Regression with a Gaussian NLL head: predictions in original units, variances positive.
"$HPCTRAIN" gen-data --kind physics19 --n 2048 --out phys.h5 >/dev/null
"$HPCTRAIN" train --data.train phys.h5 --loss gaussian-nll --model.layernorm --model.dropout 0.1 \
  --epochs 3 --run-dir run --quiet >train.log
"$HPCTRAIN" predict --checkpoint run/model.h5 --data phys.h5 --out pred.h5 >pred.log
grep -q "r2=" pred.log || die "predict printed no metrics: $(cat pred.log)"
"$PYTHON" -c "
import h5py
with h5py.File('pred.h5') as f: mean, var = f['mean'][:], f['var'][:]
assert mean.shape == (2048, 2) and var.shape == (2048, 2), (mean.shape, var.shape)
assert (var > 0).all()" || die "predict wrote wrong /mean or /var"
"$PYTHON" "$HPCTRAIN_SOURCE/scripts/hpctrain_torch.py" to-torch run/model.h5 model.pt >/dev/null || die "to-torch failed"
msg=$("$PYTHON" "$HPCTRAIN_SOURCE/tests/reference/compare_predict.py" model.pt phys.h5 pred.h5 --tol 1e-5) \
  || die "PyTorch differs from predict: $msg"
pass "checkpoint loads in PyTorch and reproduces hpctrain predict: $msg"

# --init: training that starts from a checkpoint starts from its weights (lr ~ 0 keeps them).
"$HPCTRAIN" train --data.train phys.h5 --loss gaussian-nll --model.layernorm --model.dropout 0.1 --epochs 1 \
  --optim.lr 1e-30 --init run/model.h5 --run-dir run-init --quiet >init.log
"$HPCTRAIN" predict --checkpoint run-init/model.h5 --data phys.h5 --out pred-init.h5 >pred-init.log
[[ "$(final_metric r2 pred.log)" == "$(final_metric r2 pred-init.log)" ]] || die "--init did not start from the checkpoint"
pass "--init starts from the checkpoint's parameters"
expect_fail "layers.0.weight" "$HPCTRAIN" train --data.train phys.h5 --model.widths 32 --init run/model.h5 --run-dir bad

# Classification from CSV: convert, train, predict probabilities and labels.
"$PYTHON" - <<'PY'
import numpy as np
rng = np.random.default_rng(1)
n = 600; c = rng.integers(0, 3, n); centers = np.array([[0, 3], [3, 0], [-3, -3]])
x = centers[c] + rng.normal(size=(n, 2))
with open("blobs.csv", "w") as f:
    f.write("id,a,b,cls\n")
    for i in range(n): f.write(f"{i},{x[i,0]:.6f},{x[i,1]:.6f},{c[i]}\n")
PY
"$HPCTRAIN" convert --csv blobs.csv --out blobs.h5 --targets cls --features a,b --task classification >/dev/null
"$HPCTRAIN" info blobs.h5 | grep -q "3 classes" || die "info does not show 3 classes"
"$HPCTRAIN" train --data.train blobs.h5 --epochs 20 --batch-size 32 --run-dir run-blobs --quiet >blobs.log
check "accuracy > 0.95" accuracy="$(final_metric accuracy blobs.log)"
"$HPCTRAIN" predict --checkpoint run-blobs/model.h5 --data blobs.h5 --out blobs-pred.h5 >/dev/null
"$PYTHON" -c "
import h5py, numpy as np
f = h5py.File('blobs-pred.h5'); p, l = f['prob'][:], f['label'][:]
assert p.shape == (600, 3) and l.shape == (600,), (p.shape, l.shape)
assert np.allclose(p.sum(1), 1, atol=1e-5) and (l == p.argmax(1)).all()
" || die "classification predictions malformed"
pass "classification: probabilities sum to 1, labels are the argmax"
"$HPCTRAIN" info run-blobs/model.h5 | grep -q "loss ce, task classification" || die "info on a checkpoint"
pass "info describes data sets and checkpoints"

# Prediction inputs without /y, and a feature-count mismatch.
"$PYTHON" -c "import h5py, numpy as np; h5py.File('noy.h5', 'w')['X'] = np.zeros((4, 2), np.float32)"
"$HPCTRAIN" predict --checkpoint run-blobs/model.h5 --data noy.h5 --out noy-pred.h5 | grep -q "4 predictions" \
  || die "predict on inputs without targets"
expect_fail "features" "$HPCTRAIN" predict --checkpoint run/model.h5 --data noy.h5 --out x.h5
expect_fail "not an hpctrain checkpoint" "$HPCTRAIN" predict --checkpoint phys.h5 --data noy.h5 --out x.h5
[[ ! -e x.h5 ]] || die "failed predict left its output"
finish
