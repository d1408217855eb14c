# --ddp.hierarchical on one host: forced on with HPCTRAIN_RANKS_PER_NODE=2, 4 ranks reduce as 2
# "nodes" of 2 (shared memory inside, MPI_Allreduce between the 2 leaders, copy back) and reach the
# weights of 1 process and of the shared-memory path (auto) within 1e-4 relative (sums added as
# (a+b)+(c+d) instead of ((a+b)+c)+d), and of flat MPI (zero-copy off) bit for bit. auto on one
# node keeps the plain shared-memory path; a bad value is refused by name. The 2-host case:
# tests/cluster/multinode.sh.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

"$HPCTRAIN" gen-data --kind physics19 --n 1600 --out d.h5 >/dev/null
common=(--data.train d.h5 --epochs 3 --threads 1 --model.widths 48,33 --model.layernorm
        --optim.weight-decay 0.01 --ddp.bucket-mb 0.01 --ddp.check-every 5)
"$HPCTRAIN" train "${common[@]}" --batch-size 64 --run-dir r1 >r1.log
mpirun -np 4 --oversubscribe "$HPCTRAIN" train "${common[@]}" --batch-size 16 --run-dir auto >auto.log
mpirun -np 4 --oversubscribe "$HPCTRAIN" train "${common[@]}" --batch-size 16 --ddp.zero-copy false \
  --run-dir mpi >mpi.log
HPCTRAIN_RANKS_PER_NODE=2 mpirun -np 4 --oversubscribe -x HPCTRAIN_RANKS_PER_NODE "$HPCTRAIN" train "${common[@]}" \
  --batch-size 16 --ddp.hierarchical on --run-dir on >on.log
grep -q "gradients: node-aware reduction: shared memory inside each node (2 rank(s) here), MPI_Allreduce among 2 node leader(s)" on.log \
  || die "forced on: no node-aware line: $(grep gradients on.log)"
! grep -q "node-aware" auto.log || die "auto on one node chose the node-aware path"
pass "forced on: 2 emulated nodes of 2 ranks; auto on one node: plain shared memory"
for run in on auto mpi; do
  msg=$(same_weights r1 "$run") || die "$run differs from 1 process: $msg"
  pass "$run: same weights as 1 process, $msg"
done
msg=$(same_weights on auto) || die "node-aware differs from the shared-memory path: $msg"
pass "node-aware vs shared memory only: $msg"
# Flat MPI_Allreduce over 4 ranks adds (a+b)+(c+d) for these small buckets (Open MPI's recursive
# doubling), as the node-aware path does: bit-identical weights.
"$PYTHON" - on/model.h5 mpi/model.h5 <<'PY' || die "node-aware and flat MPI weights differ"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
sys.exit(0 if all(np.array_equal(a[k][:], b[k][:]) for k in a) else 1)
PY
pass "node-aware vs flat MPI: bit-identical weights"
expect_fail "option ddp.hierarchical: auto, on or off, got 'sometimes'" \
  "$HPCTRAIN" train "${common[@]}" --ddp.hierarchical sometimes --run-dir bad
finish
