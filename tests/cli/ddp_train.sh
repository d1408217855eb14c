# `mpirun -np N hpctrain train` is data-parallel: with the same global batch (local batch x ranks x
# accumulation steps) it reaches the weights of one process, within 1e-4 relative per tensor.
# 1280 training rows: divisible by every global batch, so no rank pads (padding repeats rows).
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=${MPIRUN:-mpirun}

"$HPCTRAIN" gen-data --kind physics19 --n 1600 --out d.h5 >/dev/null
common=(--epochs 3 --threads 1 --model.widths 48,33 --model.layernorm --optim.weight-decay 0.01
        --ddp.bucket-mb 0.01 --ddp.check-every 5)
"$HPCTRAIN" train --data.train d.h5 "${common[@]}" --batch-size 64 --run-dir r1 >r1.log
"$mpirun" -np 2 "$HPCTRAIN" train --data.train d.h5 "${common[@]}" --batch-size 32 --run-dir r2 >r2.log
"$mpirun" -np 4 --oversubscribe "$HPCTRAIN" train --data.train d.h5 "${common[@]}" --batch-size 16 --run-dir r4 >r4.log
"$mpirun" -np 2 "$HPCTRAIN" train --data.train d.h5 "${common[@]}" --batch-size 16 --accum-steps 2 --run-dir r2a >r2a.log
# Streamed: each rank reads only its rows from the file (standardisation from streamed sums).
"$mpirun" -np 2 "$HPCTRAIN" train --data.train d.h5 "${common[@]}" --batch-size 32 --data.stream --data.workers 2 \
  --run-dir r2s >r2s.log
grep -q "(streamed)" r2s.log || die "r2s did not stream"
# Gradients reduced by MPI_Allreduce instead of the shared-memory window (the default on one node).
"$mpirun" -np 2 "$HPCTRAIN" train --data.train d.h5 "${common[@]}" --batch-size 32 --ddp.zero-copy false --run-dir r2m >r2m.log
for run in r2 r4 r2a r2s r2m; do
  msg=$(same_weights r1 "$run") || die "$run differs from the 1-rank run: $msg"
  pass "$run: same weights as 1 rank, $msg ($(grep -c '^final' "$run.log") final line)"
done
# The loader's thread count changes nothing: 0 (on the training thread) and 3 workers give the
# 1-worker weights bit for bit.
for w in 0 3; do
  "$HPCTRAIN" train --data.train d.h5 "${common[@]}" --batch-size 64 --data.workers $w --run-dir r1w$w >r1w$w.log
  "$PYTHON" - r1/model.h5 r1w$w/model.h5 <<'PY' || die "--data.workers $w changed the weights"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
sys.exit(0 if all(np.array_equal(a[k][:], b[k][:]) for k in a) else 1)
PY
  pass "--data.workers $w: bitwise the same weights"
done
# A NaN met while streaming (rows are checked as they are read) ends both ranks, naming the row:
# found by the standardisation pass, and (without standardisation) by the loader in training, where
# the failing rank must not wait for its peers to free the shared gradient window.
"$PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("d.h5") as f, h5py.File("nan.h5", "w") as g:
    x = f["X"][:]; x[1234, 5] = np.nan
    g["X"] = x; g["y"] = f["y"][:]; g.attrs["task"] = "regression"
PY
for extra in "" "--data.standardize false"; do
  rc=0
  start=$SECONDS
  timeout 60 "$mpirun" -np 2 "$HPCTRAIN" train --data.train nan.h5 "${common[@]}" --data.val-fraction 0 --data.stream \
    $extra --run-dir bad >nan.log 2>&1 || rc=$?
  [[ $rc -ne 0 && $rc -ne 124 ]] || die "a NaN in streamed data ($extra) did not end the job (rc $rc)"
  grep -q "rank [01]: error: nan.h5: /X row 1234 column 5 is NaN" nan.log || die "NaN not named: $(cat nan.log)"
  (( SECONDS - start < 20 )) || die "the NaN job ($extra) took $((SECONDS - start)) s to fail"
  pass "a NaN in a streamed row ${extra:+($extra) }ends the job in $((SECONDS - start)) s, naming the rank, row and column"
done
[[ ! -e bad/model.h5 ]] || die "a failed run wrote a checkpoint"

# One rank with bad input (MPMD launch: rank 1 reads a file that does not exist) ends the whole job
# quickly with a message naming that rank, while rank 0 waits in its first collective.
start=$SECONDS
rc=0
timeout 60 "$mpirun" -np 1 "$HPCTRAIN" train --data.train d.h5 "${common[@]}" --run-dir bad : \
  -np 1 "$HPCTRAIN" train "${common[@]}" --data.train missing.h5 --run-dir bad >bad.log 2>&1 || rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || die "a failing rank did not end the job (rc $rc): $(cat bad.log)"
grep -q "rank 1: error: .*missing.h5" bad.log || die "no message naming rank 1: $(cat bad.log)"
(( SECONDS - start < 30 )) || die "the job took $((SECONDS - start)) s to fail"
pass "one rank's bad input ends every rank in $((SECONDS - start)) s, naming rank 1"

grep -q "communication wait" r2.log || die "no timing breakdown in r2.log"
head -1 r2/metrics.csv | grep -q "t_data,t_forward,t_backward,t_comm_wait,t_optimizer,t_eval" \
  || die "no timing columns in metrics.csv: $(head -1 r2/metrics.csv)"
pass "timing breakdown printed and in metrics.csv"
finish
