# ZeRO-1 (--zero 1) under real mpirun: the optimizer state (and bf16/fp16's fp32 master weights)
# sharded over the ranks gives the weights of the unsharded run (bit for bit where the sums run in the
# same order: the shared-memory window on any rank count, MPI on 2 ranks; within 1e-6 relative
# otherwise), with AdamW and SGD, fp32/bf16/fp16, clipping, accumulation, skipped non-finite steps and
# an ensemble's groups; the state per rank is 1/N of the unsharded state; a --zero 1 checkpoint
# predicts and resumes under --zero 0; bad values are refused.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=${MPIRUN:-mpirun}
np2=("$mpirun" -np 2)
np4=("$mpirun" -np 4 --oversubscribe)

"$HPCTRAIN" gen-data --config "$HPCTRAIN_SOURCE/configs/default-data.ini" --n 700 --out d.h5 >/dev/null
base=(--data.train d.h5 --threads 1 --batch-size 16 --epochs 2 --model.dropout 0.1 --data.workers 1)

# close_weights RUN_A RUN_B: every tensor of the two model.h5 files within 1e-6 relative (max norm).
close_weights() {
  "$PYTHON" - "$1/model.h5" "$2/model.h5" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
assert list(a) == list(b)
worst = max(np.abs(a[k][:] - b[k][:]).max() / max(np.abs(a[k][:]).max(), 1e-30) for k in a)
print(f"worst relative difference {worst:.2e}")
sys.exit(0 if worst <= 1e-6 else 1)
PY
}

# pair NAME MODE LAUNCHER... -- OPTIONS...: the run with --zero 0 and with --zero 1; MODE bits or close.
pair() {
  local name=$1 mode=$2; shift 2
  local launch=()
  while [[ $1 != -- ]]; do launch+=("$1"); shift; done
  shift
  "${launch[@]}" "$HPCTRAIN" train "${base[@]}" "$@" --zero 0 --run-dir ${name}_z0 >${name}_z0.log
  "${launch[@]}" "$HPCTRAIN" train "${base[@]}" "$@" --zero 1 --run-dir ${name}_z1 >${name}_z1.log
  grep -q "ZeRO-1: 1/" ${name}_z1.log || die "$name: --zero 1 did not say it shards: $(cat ${name}_z1.log)"
  if [[ $mode == bits ]]; then
    same_bits ${name}_z0 ${name}_z1 || die "$name: --zero 1 weights differ from --zero 0"
    pass "$name: --zero 1 = --zero 0, bit for bit"
  else
    close_weights ${name}_z0 ${name}_z1 || die "$name: --zero 1 weights differ from --zero 0 beyond 1e-6"
    pass "$name: --zero 1 = --zero 0 within 1e-6 relative"
  fi
}

pair np2_adamw bits "${np2[@]}" -- --precision fp32 --optim.weight-decay 0.01
pair np2_mpi bits "${np2[@]}" -- --precision fp32 --ddp.zero-copy false
pair np2_sgd bits "${np2[@]}" -- --optim.name sgd --optim.lr 0.01 --optim.nesterov
# Two buckets (the first closes at 1 MB): two reduce-scatters overlap backward, the shard spans both.
pair np2_buckets bits "${np2[@]}" -- --model.widths 560,560 --ddp.bucket-mb 0.1 --accum-steps 2
# The global norm is the sum of the shards' sums of squares: another order of the same sum.
pair np2_bf16_clip close "${np2[@]}" -- --precision bf16 --optim.clip-norm 0.5 --accum-steps 2
pair np2_fp16 close "${np2[@]}" -- --precision fp16 --precision.init-scale 262144 --precision.growth-interval 4
# Two non-finite steps on rank 1 (the others' shards see them through the reduce-scatter): every rank
# skips both, on the global sum of squares.
pair np2_nan close "${np2[@]}" -- --nan.max-consecutive 3 --debug.overflow-step 5 --debug.overflow-steps 2 \
  --debug.overflow-rank 1
grep -q "skipped 2 step(s)" np2_nan_z1.log || die "np2_nan: no skipped steps: $(cat np2_nan_z1.log)"
pair np4 bits "${np4[@]}" -- --precision fp32 --model.type transformer-tabular --model.d-model 16 --model.heads 2 \
  --model.layers 1
pair np4_mpi close "${np4[@]}" -- --precision fp32 --ddp.zero-copy false
# Node-aware (2 emulated nodes of 2 ranks): ZeRO's collectives take flat MPI across nodes.
pair np4_hier close env HPCTRAIN_RANKS_PER_NODE=2 "${np4[@]}" -x HPCTRAIN_RANKS_PER_NODE -- --ddp.hierarchical on
grep -q "node-aware reduction" np4_hier_z1.log || die "np4_hier: not node-aware: $(cat np4_hier_z1.log)"

# The optimizer state per rank, as the start-up event reports it: 1/N of the unsharded state, and not
# empty (0 bytes on both sides would pass any ratio).
state_bytes() { grep '"event":"optimizer"' "$1/events.jsonl" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }
check "z1 > 0 and z1 * 2 == z0 and u == z0" z1="$(state_bytes np2_adamw_z1 state_bytes_per_rank)" \
  z0="$(state_bytes np2_adamw_z0 state_bytes_per_rank)" u="$(state_bytes np2_adamw_z1 state_bytes_unsharded)"
check "z1 > 0 and z1 * 4 == z0" z1="$(state_bytes np4_z1 state_bytes_per_rank)" z0="$(state_bytes np4_z0 state_bytes_per_rank)"
# bf16: the fp32 master weights too (the store's whole copy is freed between checkpoints).
check "m1 > 0 and m1 * 2 == m0" m1="$(state_bytes np2_bf16_clip_z1 master_bytes_per_rank)" \
  m0="$(state_bytes np2_bf16_clip_z0 master_bytes_per_rank)"

# An ensemble of 2 members on 2 groups of 2 ranks: each group shards over its own 2 ranks.
"${np4[@]}" "$HPCTRAIN" train "${base[@]}" --ensemble.members 2 --groups 2 --zero 0 --run-dir ens_z0 >/dev/null
"${np4[@]}" "$HPCTRAIN" train "${base[@]}" --ensemble.members 2 --groups 2 --zero 1 --run-dir ens_z1 >/dev/null
for m in 000 001; do
  same_bits ens_z0/member-$m ens_z1/member-$m || die "ensemble member $m: --zero 1 weights differ"
done
pass "ensemble, 2 groups of 2 ranks: --zero 1 = --zero 0 per member, bit for bit"

# A --zero 1 checkpoint (rank 0 writes the gathered state) resumes under --zero 0 and predicts.
"${np2[@]}" "$HPCTRAIN" train "${base[@]}" --zero 1 --checkpoint.every-steps 5 --debug.stop-after-steps 10 \
  --run-dir across >/dev/null
"$HPCTRAIN" predict --checkpoint across/checkpoints/step-00000010.h5 --data d.h5 --out pred.h5 >pred.log
grep -q "r2=" pred.log || die "predict from a --zero 1 checkpoint printed no metrics: $(cat pred.log)"
pass "predict loads a --zero 1 checkpoint"
"${np2[@]}" "$HPCTRAIN" train "${base[@]}" --zero 0 --checkpoint.every-steps 5 --resume across >/dev/null
"${np2[@]}" "$HPCTRAIN" train "${base[@]}" --zero 0 --run-dir across_straight >/dev/null
same_bits across_straight across || die "--zero 1 stopped + resumed with --zero 0 differs from the straight run"
pass "a --zero 1 checkpoint resumes under --zero 0, bit for bit"

# Bad values.
expect_fail "option zero: must be 0 (off) or 1 (shard the optimizer state), got 2" "$HPCTRAIN" train "${base[@]}" --zero 2
rc=0
timeout 120 "$mpirun" -np 3 --oversubscribe "$HPCTRAIN" train "${base[@]}" --zero 1 --run-dir three >three.log 2>&1 || rc=$?
[[ $rc -ne 0 ]] && grep -q "option zero: ZeRO-1 splits every gradient bucket into 3 equal blocks" three.log \
  || die "--zero 1 on 3 ranks: $(cat three.log)"
pass "--zero 1 on 3 ranks is refused naming the bucket that does not divide"

finish
