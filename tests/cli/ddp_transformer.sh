# Data-parallel transformers: `mpirun -np 2 hpctrain train` with half the local batch reaches the
# weights of one process within 1e-4 relative per tensor, as the MLP does (tests/cli/ddp_train.sh):
# transformer-tabular on physics19, and a transformer over padded token sequences with a pooled
# per-row head (key-padding masks, masked mean pooling). 1280 training rows: no rank pads.
# Per-token losses are means over each rank's labelled tokens (as PyTorch's DDP), which equal the
# one-process mean only when every micro-batch holds the same number of tokens: tested with the lm on
# text without padding; with padding the per-token path runs under 2 ranks below.
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

# The lm with the per-token loss: on text whose every row is full (S - 1 = 160 x 32 bytes: no padding,
# every position labelled) each micro-batch holds the same number of tokens, so the per-rank means
# average to the one-process mean and 2 ranks reach the 1-rank weights.
head -c $((160 * 32 + 1)) "$HPCTRAIN_SOURCE/README.md" >text.txt
"$HPCTRAIN" convert --text text.txt --seq-len 32 --out text.h5 >/dev/null
"$HPCTRAIN" train --data.train text.h5 --model.type lm "${common[@]}" --batch-size 16 --run-dir lm.r1 >lm.r1.log
"$mpirun" -np 2 "$HPCTRAIN" train --data.train text.h5 --model.type lm "${common[@]}" --batch-size 8 --run-dir lm.r2 >lm.r2.log
msg=$(same_weights lm.r1 lm.r2) || die "lm on 2 ranks differs from 1 rank: $msg"
pass "lm (per-token cross-entropy, full rows) on 2 ranks reaches the 1-rank weights: $msg"

# Per-token cross-entropy with padding under 2 ranks (sharded validation gathers [N, L, C] outputs): runs, in sync.
"$mpirun" -np 2 "$HPCTRAIN" train --data.train win.h5 --model.type transformer "${common[@]}" --batch-size 16 \
  --run-dir win.r2 >win.r2.log
grep -q "^final:.*accuracy=" win.r2.log || die "per-token training on 2 ranks: $(cat win.r2.log)"
pass "per-token transformer on 2 ranks: $(grep -o 'accuracy=[0-9.]*' win.r2.log | tail -1)"
finish
