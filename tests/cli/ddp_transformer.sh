# Data-parallel transformers: `mpirun -np 2 hpctrain train` with half the local batch reaches the
# weights of one process within 1e-4 relative per tensor, as the MLP does (tests/cli/ddp_train.sh):
# transformer-tabular on physics19, and a transformer over padded token sequences with a pooled
# per-row head (key-padding masks, masked mean pooling). 1280 training rows: no rank pads.
# Per-token losses: the gradient of a step is that of the sum over every labelled token of the step
# (all ranks, all micro-batches) over their number, so padded rows that give ranks and micro-batches
# different token counts still reach the one-process weights: tested with the lm on full rows and with
# a per-token transformer on padded sequences, on 2 ranks and with accumulation.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=${MPIRUN:-mpirun}

"$HPCTRAIN" gen-data --kind physics19 --n 1600 --out phys.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-sum --n 1600 --seq-len 16 --out sum.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-window --n 400 --seq-len 16 --out win.h5 >/dev/null
common=(--epochs 2 --threads 1 --model.d-model 16 --model.heads 2 --model.layers 2 --model.mlp-ratio 2
        --optim.weight-decay 0.01 --ddp.bucket-mb 0.002 --ddp.check-every 5)

for model in "transformer-tabular phys.h5 --model.pooling cls" "transformer sum.h5 --model.pooling mean"; do
  set -- $model
  "$HPCTRAIN" train --data.train "$2" --model.type "$1" "${@:3}" "${common[@]}" --batch-size 64 --run-dir "$1.r1" >"$1.r1.log"
  "$mpirun" -np 2 "$HPCTRAIN" train --data.train "$2" --model.type "$1" "${@:3}" "${common[@]}" --batch-size 32 \
    --run-dir "$1.r2" >"$1.r2.log"
  msg=$(same_weights "$1.r1" "$1.r2") || die "$1 on 2 ranks differs from 1 rank: $msg"
  pass "$1 on 2 ranks reaches the 1-rank weights: $msg"
done

# The lm with the per-token loss, on text whose every row is full (S - 1 = 160 x 32 bytes).
head -c $((160 * 32 + 1)) "$HPCTRAIN_SOURCE/README.md" >text.txt
"$HPCTRAIN" convert --text text.txt --seq-len 32 --out text.h5 >/dev/null
"$HPCTRAIN" train --data.train text.h5 --model.type lm "${common[@]}" --batch-size 16 --run-dir lm.r1 >lm.r1.log
"$mpirun" -np 2 "$HPCTRAIN" train --data.train text.h5 --model.type lm "${common[@]}" --batch-size 8 --run-dir lm.r2 >lm.r2.log
msg=$(same_weights lm.r1 lm.r2) || die "lm on 2 ranks differs from 1 rank: $msg"
pass "lm (per-token cross-entropy, full rows) on 2 ranks reaches the 1-rank weights: $msg"

# Per-token cross-entropy on padded sequences (lengths 8 to 16, so each rank's half of a batch holds
# its own number of tokens); sharded validation gathers [N, L, C] outputs. 1 rank with batch 16, 2
# ranks with 8 each, and 1 rank with 2 accumulated micro-batches of 8 reach the same weights.
"$PYTHON" - win.h5 <<'PY' || die "seq-window data has no rows of different lengths"
import sys, h5py
lengths = h5py.File(sys.argv[1], "r")["lengths"][:]
sys.exit(0 if lengths.min() < lengths.max() else 1)
PY
"$HPCTRAIN" train --data.train win.h5 --model.type transformer "${common[@]}" --batch-size 16 --run-dir win.r1 >win.r1.log
"$mpirun" -np 2 "$HPCTRAIN" train --data.train win.h5 --model.type transformer "${common[@]}" --batch-size 8 \
  --run-dir win.r2 >win.r2.log
grep -q "^final:.*accuracy=" win.r2.log || die "per-token training on 2 ranks: $(cat win.r2.log)"
msg=$(same_weights win.r1 win.r2) || die "per-token transformer (padded) on 2 ranks differs from 1 rank: $msg"
pass "per-token transformer on padded sequences, 2 ranks reach the 1-rank weights: $msg"
"$HPCTRAIN" train --data.train win.h5 --model.type transformer "${common[@]}" --batch-size 8 --accum-steps 2 \
  --run-dir win.acc >win.acc.log
msg=$(same_weights win.r1 win.acc) || die "per-token transformer (padded) with 2 accumulation steps differs: $msg"
pass "per-token transformer on padded sequences, 2 accumulated micro-batches reach the one-batch weights: $msg"
finish
