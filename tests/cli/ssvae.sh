# The semi-supervised VAE (model ssvae) end to end: convert --idx on tiny IDX files written here
# (values, errors), --labelled-fraction (reproducible, counts, errors), -1 labels refused by the other
# models, the objective and its gradients against PyTorch on identical weights and noise
# (tests/reference/ssvae_torch.py on the unit test's dump), 2 DDP ranks reaching one process's weights
# (a build whose noise was keyed by the rank-local row missed by 3e-2), and on scikit-learn's 8x8 digits with 10%
# of the labels (scripts/ssvae-digits-data): the SSVAE beats an MLP trained on the labelled rows alone
# (configs/workloads/ssvae.ini as shipped, shortened), predict gives class probabilities.
source "$(dirname "$0")/../lib.sh"
: "${UNIT_TESTS:?}"

# --- convert --idx: 5 images of 2 x 3 pixels, labels 0..2.
"$PYTHON" - <<'PY'
import struct
img = bytes(range(0, 30 * 8, 8))  # 30 values 0, 8, ..., 232
with open("img.idx", "wb") as f: f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 5, 2, 3) + img)
with open("lab.idx", "wb") as f: f.write(struct.pack(">BBBBI", 0, 0, 8, 1, 5) + bytes([2, 0, 1, 2, 0]))
with open("lab4.idx", "wb") as f: f.write(struct.pack(">BBBBI", 0, 0, 8, 1, 4) + bytes([2, 0, 1, 2]))
with open("short.idx", "wb") as f: f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 5, 2, 3) + img[:-1])
with open("float.idx", "wb") as f: f.write(struct.pack(">BBBBI", 0, 0, 0x0D, 1, 1) + b"\0\0\0\0")
with open("bad.idx", "wb") as f: f.write(b"P5 2 3\n")
PY
"$HPCTRAIN" convert --idx img.idx lab.idx --out tiny.h5 >/dev/null
"$PYTHON" - <<'PY' || die "convert --idx wrote wrong values"
import h5py, numpy as np
f = h5py.File("tiny.h5")
x, y = f["X"][:], f["y"][:]
assert x.shape == (5, 6) and x.dtype == np.float32, x.shape
assert np.allclose(x.ravel(), np.arange(0, 240, 8) / 255.0, atol=1e-7)
assert list(y) == [2, 0, 1, 2, 0] and f.attrs["task"] in (b"classification", "classification")
PY
pass "convert --idx: 5 images of 2 x 3 pixels scaled by 1/255, labels and task"
expect_fail "holds 5 images but lab4.idx holds 4 labels" "$HPCTRAIN" convert --idx img.idx lab4.idx --out x.h5
expect_fail "short.idx declares 30 values but holds 29" "$HPCTRAIN" convert --idx short.idx lab.idx --out x.h5
expect_fail "only unsigned bytes" "$HPCTRAIN" convert --idx img.idx float.idx --out x.h5
expect_fail "bad.idx is not an IDX file" "$HPCTRAIN" convert --idx bad.idx lab.idx --out x.h5
expect_fail "cannot read the images file missing.idx" "$HPCTRAIN" convert --idx missing.idx lab.idx --out x.h5
[[ ! -e x.h5 ]] || die "a failed convert left x.h5"

# --- --labelled-fraction: round(f N) rows keep their labels, the same rows for the same seed.
"$PYTHON" - <<'PY'
import struct
import numpy as np
rng = np.random.default_rng(1)
with open("img100.idx", "wb") as f: f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 100, 2, 2) + rng.integers(0, 256, 400, dtype=np.uint8).tobytes())
with open("lab100.idx", "wb") as f: f.write(struct.pack(">BBBBI", 0, 0, 8, 1, 100) + (np.arange(100) % 10).astype(np.uint8).tobytes())
PY
for s in 1 1b 2; do
  "$HPCTRAIN" convert --idx img100.idx lab100.idx --labelled-fraction 0.3 --seed "${s%b}" --out "l$s.h5" >/dev/null
done
"$PYTHON" - <<'PY' || die "--labelled-fraction"
import h5py, numpy as np
a, b, c = (h5py.File(f"l{s}.h5")["y"][:] for s in ("1", "1b", "2"))
assert (a >= 0).sum() == 30 and (c >= 0).sum() == 30, ((a >= 0).sum(), (c >= 0).sum())
assert (a == b).all() and not (a == c).all()
keep = a >= 0
assert (a[keep] == np.arange(100)[keep] % 10).all() and (a[~keep] == -1).all()
assert h5py.File("l1.h5").attrs["num_classes"] == 10
PY
pass "--labelled-fraction 0.3: 30 of 100 rows keep their labels, the others -1; same seed same rows, seed 2 others"
expect_fail "option --labelled-fraction: must be in [0, 1], got 1.5" "$HPCTRAIN" convert --idx img100.idx lab100.idx --labelled-fraction 1.5 --out x.h5
expect_fail "l1.h5: /y holds label -1 (unlabelled rows); class labels must be >= 0 for option model.type mlp (-1 = unlabelled is for model.type ssvae only)" \
  "$HPCTRAIN" train --data.train l1.h5 --model.type mlp --epochs 1 --run-dir runs/refused --quiet
expect_fail "option data.standardize: model.type ssvae with model.recon bernoulli" \
  "$HPCTRAIN" train --data.train l1.h5 --model.type ssvae --epochs 1 --run-dir runs/refused --quiet
expect_fail "option model.recon: unknown reconstruction 'poisson'" \
  "$HPCTRAIN" train --data.train l1.h5 --model.type ssvae --model.recon poisson --data.standardize false --epochs 1 --run-dir runs/refused --quiet

# --- PyTorch reference: the objective and every gradient on the unit test's weights, batch and noise.
HPCT_SSVAE_DUMP="$PWD/ssvae-dump.txt" "$UNIT_TESTS" -tc="*noise fixed (bernoulli)*" >unit.log 2>&1 || { cat unit.log; die "unit test"; }
"$PYTHON" "$HPCTRAIN_SOURCE/tests/reference/ssvae_torch.py" ssvae-dump.txt >torch.log || { cat torch.log; die "mismatch with PyTorch"; }
pass "PyTorch reference: $(tail -1 torch.log)"

# --- DDP: 2 ranks with batch 8 reach the weights of 1 process with batch 16. Each data set row draws
# its noise from a stream of its own (seed, micro-step, row), so a row gets the same noise on any
# rank; before, every rank drew the first process's noise for its k-th row.
"$PYTHON" - <<'PY'
import struct
import numpy as np
rng = np.random.default_rng(2)
with open("img160.idx", "wb") as f: f.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 160, 3, 3) + rng.integers(0, 256, 1440, dtype=np.uint8).tobytes())
with open("lab160.idx", "wb") as f: f.write(struct.pack(">BBBBI", 0, 0, 8, 1, 160) + (np.arange(160) % 4).astype(np.uint8).tobytes())
PY
"$HPCTRAIN" convert --idx img160.idx lab160.idx --labelled-fraction 0.3 --seed 1 --out ddp.h5 >/dev/null
ddp=(--data.train ddp.h5 --model.type ssvae --data.standardize false --model.widths 16 --model.latent 4 --epochs 2
     --data.val-fraction 0.2 --threads 1 --seed 3 --ddp.bucket-mb 0.002 --quiet)
"$HPCTRAIN" train "${ddp[@]}" --batch-size 16 --run-dir ssvae.r1 >/dev/null
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1 \
  "${MPIRUN:-mpirun}" -np 2 "$HPCTRAIN" train "${ddp[@]}" --batch-size 8 --run-dir ssvae.r2 >/dev/null
msg=$(same_weights ssvae.r1 ssvae.r2) || die "ssvae on 2 ranks differs from 1 process: $msg"
pass "ssvae on 2 ranks (batch 8 each) reaches the 1-process weights (batch 16): $msg"

# --- digits, 10% labels: the SSVAE against an MLP on the labelled rows alone (the shipped config, fewer epochs).
"$PYTHON" -c "import sklearn" 2>/dev/null || die "python3-sklearn missing (scripts/install-deps installs it)"
HPCTRAIN="$HPCTRAIN" PYTHON="$PYTHON" "$HPCTRAIN_SOURCE/scripts/ssvae-digits-data" data/digits 0.1 1 >/dev/null
cfg="$HPCTRAIN_SOURCE/configs/workloads/ssvae.ini"
epochs=${SSVAE_EPOCHS:-40}
"$HPCTRAIN" train --config "$cfg" --epochs "$epochs" --run-dir runs/ssvae --quiet >ssvae.log
"$HPCTRAIN" train --data.train data/digits/train-labelled.h5 --data.val data/digits/test.h5 --model.type mlp \
  --model.widths 128 --model.activation relu --epochs 200 --batch-size 16 --seed 1 --run-dir runs/mlp --quiet >mlp.log
ssvae=$(final_metric accuracy ssvae.log)
mlp=$(final_metric accuracy mlp.log)
check "ssvae > 0.92 and ssvae > mlp" ssvae="$ssvae" mlp="$mlp"
"$HPCTRAIN" predict --checkpoint runs/ssvae/model.h5 --data data/digits/test.h5 --out pred.h5 >predict.log
"$PYTHON" - <<'PY' || die "predict of the ssvae"
import h5py, numpy as np
p = h5py.File("pred.h5")
prob, label = p["prob"][:], p["label"][:]
y = h5py.File("data/digits/test.h5")["y"][:]
assert prob.shape == (500, 10) and np.allclose(prob.sum(1), 1, atol=1e-5)
print(f"predict accuracy {(label == y).mean():.3f}")
PY
pass "predict: class probabilities of the classifier q(y|x) on the 500 test digits"
# Resume: 30 steps, a checkpoint, the rest: the straight run's weights bit for bit (the noise is a
# function of seed and micro-step, restored with the run's state).
"$HPCTRAIN" train --config "$cfg" --epochs 2 --run-dir runs/straight --quiet >/dev/null
"$HPCTRAIN" train --config "$cfg" --epochs 2 --run-dir runs/resumed --quiet --checkpoint.every-steps 30 \
  --debug.stop-after-steps 30 >/dev/null
"$HPCTRAIN" train --config "$cfg" --epochs 2 --run-dir runs/resumed --quiet --resume runs/resumed >/dev/null
"$PYTHON" - <<'PY' || die "ssvae resume differs from the straight run"
import h5py, numpy as np
a, b = h5py.File("runs/straight/model.h5")["params"], h5py.File("runs/resumed/model.h5")["params"]
assert list(a) == list(b) and all(np.array_equal(a[k][:], b[k][:]) for k in a)
PY
pass "resume after 30 steps reaches the straight run's weights bit for bit"
finish
