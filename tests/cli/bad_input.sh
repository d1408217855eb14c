# Bad input: a one-line error naming what is wrong and where, a non-zero exit, no partial output.
source "$(dirname "$0")/../lib.sh"

"$HPCTRAIN" gen-data --n 256 --out good.h5 >/dev/null
"$PYTHON" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(0)
x = rng.normal(size=(50, 3)).astype(np.float32); y = rng.normal(size=50).astype(np.float32)
def write(name, **ds):
    with h5py.File(name, "w") as f:
        for k, v in ds.items(): f[k] = v
write("no_y.h5", X=x)
write("rank3.h5", X=x.reshape(50, 3, 1), y=y)
write("rows.h5", X=x, y=y[:49])
write("strings.h5", X=np.array([b"a", b"b"]), y=y[:2])
xn = x.copy(); xn[17, 2] = np.nan; write("nan.h5", X=xn, y=y)
yi = y.copy(); yi[5] = np.inf; write("inf.h5", X=x, y=yi)
with h5py.File("labels.h5", "w") as f:
    f["X"] = x; f["y"] = np.arange(50, dtype=np.int32) % 3; f.attrs["num_classes"] = 2
with h5py.File("task.h5", "w") as f:
    f["X"] = x; f["y"] = y; f.attrs["task"] = "ranking"
PY
echo "not hdf5" >text.h5

train() { "$HPCTRAIN" train --run-dir run --epochs 1 "$@"; }
expect_fail "missing.h5" train --data.train missing.h5
expect_fail "text.h5" train --data.train text.h5
expect_fail "/y" train --data.train no_y.h5
expect_fail "/X" train --data.train rank3.h5
expect_fail "49" train --data.train rows.h5
expect_fail "strings.h5" train --data.train strings.h5
expect_fail "row 17" train --data.train nan.h5
expect_fail "inf.h5" train --data.train inf.h5
expect_fail "labels.h5" train --data.train labels.h5
expect_fail "ranking" train --data.train task.h5
expect_fail "batch-size" train --data.train good.h5 --batch-size 0
expect_fail "batch-size" train --data.train good.h5 --batch-size 100000
expect_fail "swish" train --data.train good.h5 --model.activation swish
expect_fail "model.widths" train --data.train good.h5 --model.widths 64,x
expect_fail "model.foo" train --data.train good.h5 --model.foo 3
expect_fail "epochs" train --data.train good.h5 --epochs three
expect_fail "loss" train --data.train good.h5 --loss ce
expect_fail "val-fraction" train --data.train good.h5 --data.val-fraction 1.5
[[ ! -e run/model.h5 ]] || die "a failed run left a checkpoint"
pass "no checkpoint from failed runs"

expect_fail "n" "$HPCTRAIN" gen-data --n 0 --out zero.h5
expect_fail "kind" "$HPCTRAIN" gen-data --kind spirals --out spirals.h5
[[ ! -e zero.h5 && ! -e spirals.h5 ]] || die "gen-data left a file after failing"
pass "gen-data leaves no file on failure"

printf 'a,b,t\n1,2,3\n4,x,6\n' >bad.csv
expect_fail "line 3" "$HPCTRAIN" convert --csv bad.csv --out bad_csv.h5 --targets t
expect_fail "nope" "$HPCTRAIN" convert --csv bad.csv --out bad_csv.h5 --targets nope
[[ ! -e bad_csv.h5 ]] || die "convert left a file after failing"

# An existing output survives a failed overwrite, and no temporary file is left behind.
cp good.h5 keep.h5
expect_fail "n" "$HPCTRAIN" gen-data --n -5 --out keep.h5
cmp -s good.h5 keep.h5 || die "a failed gen-data changed the existing file"
compgen -G "*.tmp.*" >/dev/null && die "temporary files left: $(ls ./*.tmp.*)"
pass "existing output untouched, no temporary files"

# A run refused for its options leaves an earlier run's directory exactly as it was; one that fails
# while training leaves its model.h5, config.ini and checkpoints (metrics.csv is the new run's, written
# as it goes; train.log and events.jsonl grow by the new run's lines, ending with its failure).
"$HPCTRAIN" train --data.train good.h5 --epochs 2 --run-dir done --quiet >/dev/null
cp -r done done.before
expect_fail "epochs" "$HPCTRAIN" train --data.train good.h5 --epochs 0 --run-dir done
diff -r done done.before >/dev/null || die "a refused run changed the earlier run directory"
expect_fail "diverged" "$HPCTRAIN" train --data.train good.h5 --optim.name sgd --optim.lr 1e12 --run-dir done
diff -r -x metrics.csv -x train.log -x events.jsonl done done.before >/dev/null \
  || die "a failed run changed the earlier run's model or checkpoints"
tail -1 done/events.jsonl | grep -q '^{"event":"failed"' || die "events.jsonl does not end with the failure"
pass "failed runs leave the run's model, configuration and checkpoints untouched"

expect_fail "kin" "$HPCTRAIN" gen-data --kin two-gaussians --out guess.h5  # no prefix guessing
expect_fail "unknown command" "$HPCTRAIN" fly
finish
