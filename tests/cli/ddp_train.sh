# `mpirun -np N hpctrain train` is data-parallel: with the same global batch (local batch x ranks x
# accumulation steps) it reaches the weights of one process, within 1e-4 relative per tensor.
# 1280 training rows: divisible by every global batch, so no rank pads (padding repeats rows).
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=${MPIRUN:-mpirun}

"$HPCTRAIN" gen-data --kind physics19 --n 1600 --out d.h5 >/dev/null
common=(--epochs 3 --threads 1 --model.widths 48,33 --model.layernorm --optim.weight-decay 0.01
        --ddp.bucket-mb 0.01 --ddp.check-every 5 --quiet)
"$HPCTRAIN" train --data.train d.h5 "${common[@]}" --batch-size 64 --run-dir r1 >r1.log
"$mpirun" -np 2 "$HPCTRAIN" train --data.train d.h5 "${common[@]}" --batch-size 32 --run-dir r2 >r2.log
"$mpirun" -np 4 --oversubscribe "$HPCTRAIN" train --data.train d.h5 "${common[@]}" --batch-size 16 --run-dir r4 >r4.log
"$mpirun" -np 2 "$HPCTRAIN" train --data.train d.h5 "${common[@]}" --batch-size 16 --accum-steps 2 --run-dir r2a >r2a.log
for run in r2 r4 r2a; do
  "$PYTHON" - r1/model.h5 "$run/model.h5" <<'PY' || die "$run differs from the 1-rank run"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
worst = max(np.linalg.norm(a[k][:] - b[k][:]) / np.linalg.norm(a[k][:]) for k in a)
print(f"worst relative weight difference {worst:.2e}")
sys.exit(0 if worst < 1e-4 else 1)
PY
  pass "$run: same weights as 1 rank ($(grep -c '^final' "$run.log") final line)"
done
# One rank with bad input (MPMD launch: rank 1 reads a file that does not exist) ends the whole job
# quickly with a message naming that rank, while rank 0 waits in the initial broadcast.
start=$SECONDS
rc=0
timeout 60 "$mpirun" -np 1 "$HPCTRAIN" train --data.train d.h5 "${common[@]}" --run-dir bad : \
  -np 1 "$HPCTRAIN" train "${common[@]}" --data.train missing.h5 --run-dir bad >bad.log 2>&1 || rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || die "a failing rank did not end the job (rc $rc): $(cat bad.log)"
grep -q "rank 1: error: .*missing.h5" bad.log || die "no message naming rank 1: $(cat bad.log)"
(( SECONDS - start < 30 )) || die "the job took $((SECONDS - start)) s to fail"
pass "one rank's bad input ends every rank in $((SECONDS - start)) s, naming rank 1"

grep -q "communication wait" r2.log && pass "timing breakdown printed" || true
finish
