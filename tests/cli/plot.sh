# hpctrain plot: PNGs of runs (loss against steps and time, validation metrics, throughput, phase
# times), several runs on one figure, an ensemble's members; the files are PNGs of 1000 x 600 pixels,
# and the plot of a known metrics.csv shows its points where they belong (read back from the image).
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

"$HPCTRAIN" gen-data --config "$HPCTRAIN_SOURCE/configs/default-data.ini" --n 1024 --out d.h5 >/dev/null
"$HPCTRAIN" train --data.train d.h5 --epochs 3 --run-dir a >/dev/null
"$HPCTRAIN" train --data.train d.h5 --epochs 3 --model.widths 16 --run-dir b >/dev/null
"$HPCTRAIN" plot a b --out pics >plot.log
[[ $(grep -c '^wrote ' plot.log) -eq 4 ]] || die "plot wrote: $(cat plot.log)"
"$PYTHON" - pics <<'PY' || die "the PNGs"
import struct, sys, os
for name in ("loss.png", "metrics.png", "throughput.png", "phases.png"):
    with open(os.path.join(sys.argv[1], name), "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", name
    assert struct.unpack(">II", head[16:24]) == (1000, 600), (name, struct.unpack(">II", head[16:24]))
PY
pass "two runs: loss, metrics, throughput and phases PNGs of 1000 x 600"

# A known metrics.csv: 5 epochs, the training loss falling 5, 4, 3, 2, 1 over steps 10 .. 50 and the
# validation loss 4.5 .. 0.5. In the image, the first run's training points are pure red and its
# validation points pure blue: 5 clusters each in the left panel, left to right, each lower than the
# one before, every blue one below its red one.
mkdir -p known
"$PYTHON" - known/metrics.csv <<'PY'
import sys
cols = "epoch,step,lr,train_loss,val_loss,samples_per_s,epoch_seconds,t_data,t_forward,t_backward,t_comm_wait,t_optimizer,t_eval"
with open(sys.argv[1], "w") as f:
    f.write(cols + "\n")
    for e in range(1, 6):
        f.write(f"{e},{10 * e},0.001,{6 - e},{5.5 - e},1000,1,0.1,0.3,0.4,0,0.1,0.1\n")
PY
"$HPCTRAIN" plot known >/dev/null
"$PYTHON" - known/loss.png <<'PY' || die "the known points are not where they belong in loss.png"
import sys
import numpy as np
import matplotlib.image as mpimg
img = mpimg.imread(sys.argv[1])[:, :500, :3]  # the left panel: loss against steps
def clusters(mask):
    # Marker interiors: pixels whose 5 x 5 neighbourhood is all of the colour (the lines are thinner).
    core = mask.copy()
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            core &= np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    mask = core
    cols = np.where(mask.any(axis=0))[0]
    groups = np.split(cols, np.where(np.diff(cols) > 3)[0] + 1)
    return [(g.mean(), np.where(mask[:, g].any(axis=1))[0].mean()) for g in groups]
red = clusters((img[..., 0] > 0.95) & (img[..., 1] < 0.05) & (img[..., 2] < 0.05))
blue = clusters((img[..., 2] > 0.95) & (img[..., 0] < 0.05) & (img[..., 1] < 0.05))
print("red", [(round(x), round(y)) for x, y in red]); print("blue", [(round(x), round(y)) for x, y in blue])
assert len(red) == 5 and len(blue) == 5
for pts in (red, blue):
    xs, ys = zip(*pts)
    assert all(a < b for a, b in zip(xs, xs[1:])) and all(a < b for a, b in zip(ys, ys[1:]))
    steps = np.diff(ys)
    assert steps.max() - steps.min() < 3, steps  # equal loss steps: equal pixel steps
assert all(abs(r[0] - b[0]) < 3 and r[1] < b[1] for r, b in zip(red, blue))
PY
pass "a known metrics.csv: its 5 training and 5 validation points in order, evenly spaced, validation below"

# An ensemble's directory: each member's curve.
mpirun -np 2 "$HPCTRAIN" train --data.train d.h5 --epochs 2 --threads 1 --ensemble.members 2 --run-dir ens >/dev/null
"$HPCTRAIN" plot ens >ens.log
grep -q "wrote ens/loss.png" ens.log || die "ensemble plot: $(cat ens.log)"
pass "an ensemble directory plots its members"

expect_fail "nowhere: not a run directory" "$HPCTRAIN" plot nowhere
[[ ! -e nowhere ]] || die "plot created the missing directory"
mkdir -p empty
expect_fail "empty: has no metrics.csv" "$HPCTRAIN" plot empty
echo "not,a,metrics,file" >empty/metrics.csv
expect_fail "no epoch rows with step and train_loss" "$HPCTRAIN" plot empty

# An ensemble's predictions: calibration.png shows its calibration curve and the coverage of each
# --uq.levels interval (in the first file's colour, matplotlib's first, #1f77b4); predictions
# without a calibration table are refused by name.
"$HPCTRAIN" train --data.train d.h5 --epochs 2 --ensemble.members 2 --model.widths 16 --run-dir ens >/dev/null
"$HPCTRAIN" predict --checkpoint ens --data d.h5 --out ens_pred.h5 >/dev/null
"$HPCTRAIN" plot --predictions ens_pred.h5 --out cal >cal.log
grep -q '^wrote cal/calibration.png$' cal.log || die "calibration plot: $(cat cal.log)"
"$PYTHON" - cal/calibration.png <<'PY' || die "calibration.png"
import sys
import numpy as np
import matplotlib.image as mpimg
img = mpimg.imread(sys.argv[1])[:, :, :3]
assert img.shape[:2] == (600, 1000), img.shape
blue = np.all(np.abs(img - np.array([0x1f, 0x77, 0xb4]) / 255) < 0.02, axis=2)
assert blue.sum() > 500, blue.sum()
PY
"$HPCTRAIN" predict --checkpoint a/model.h5 --data d.h5 --out single.h5 >/dev/null
"$HPCTRAIN" plot --predictions single.h5 --out cal 2>cal.err && die "single-model predictions plotted"
grep -q 'single.h5: no /calibration_nominal' cal.err || die "the refusal: $(cat cal.err)"
pass "calibration.png of an ensemble's predictions; predictions without a table refused"
finish
