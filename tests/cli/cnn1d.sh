# Per-residue convolutional models (model.type cnn1d, unet1d) on the seq-majority task: the label of a
# position is the majority of a window of 15 tokens, wider than one kernel of 5. A single conv
# (--model.layers 0: stem conv + head) sees 5 tokens and stays near its ceiling; a stack of dilated
# residual blocks (receptive field 1 + 4 (1 + 1 + 2 + 4) = 33) reaches the label, and so does a U-Net
# of 3 levels (about 61). Thresholds from seeds 1-3 (measured: single conv 0.718-0.731, deep
# 0.968-0.982; unet1d seeds 1-2: 0.944, 0.933). Then data parallelism: 2 ranks with
# half the batch reach the one-process weights on padded sequences, for cnn1d and unet1d; and the
# gradients of both whole models against PyTorch autograd.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=${MPIRUN:-mpirun}

"$HPCTRAIN" gen-data --kind seq-majority --n 2048 --seq-len 32 --vocab 20 --encoding onehot --out maj.h5 >/dev/null
cnn=(--data.train maj.h5 --model.type cnn1d --model.channels 24 --model.kernel-size 5 --epochs 5 --batch-size 32
     --optim.lr 2e-3 --sched.name cosine --quiet)
"$HPCTRAIN" train "${cnn[@]}" --model.layers 0 --run-dir run-shallow >shallow.log
"$HPCTRAIN" train "${cnn[@]}" --model.layers 4 --model.dilations 1,1,2,4 --run-dir run-deep >deep.log
check "accuracy < 0.78" accuracy="$(final_metric accuracy shallow.log)"
check "accuracy > 0.94" accuracy="$(final_metric accuracy deep.log)"
unet=(--data.train maj.h5 --model.type unet1d --model.channels 24 --model.kernel-size 5 --model.layers 3 --epochs 5
      --batch-size 32 --optim.lr 2e-3 --sched.name cosine --quiet)
"$HPCTRAIN" train "${unet[@]}" --run-dir run-unet >unet.log
check "accuracy > 0.9" accuracy="$(final_metric accuracy unet.log)"

# DDP on padded per-residue data (lengths L/4 .. L): 1 process with batch 16 vs 2 ranks with 8.
"$HPCTRAIN" gen-data --kind seq-majority --n 320 --seq-len 24 --encoding onehot --out small.h5 >/dev/null
common=(--data.train small.h5 --model.type cnn1d --model.channels 8 --model.layers 2 --model.dilations 1,2
        --epochs 2 --threads 1 --optim.weight-decay 0.01 --ddp.bucket-mb 0.002 --ddp.check-every 5)
"$HPCTRAIN" train "${common[@]}" --batch-size 16 --run-dir cnn.r1 >cnn.r1.log
"$mpirun" -np 2 "$HPCTRAIN" train "${common[@]}" --batch-size 8 --run-dir cnn.r2 >cnn.r2.log
msg=$(same_weights cnn.r1 cnn.r2) || die "cnn1d on 2 ranks differs from 1 rank: $msg"
pass "cnn1d on padded sequences, 2 ranks reach the 1-rank weights: $msg"
unetddp=(--data.train small.h5 --model.type unet1d --model.channels 8 --model.layers 3 --epochs 2 --threads 1
      --optim.weight-decay 0.01 --ddp.bucket-mb 0.002 --ddp.check-every 5)
"$HPCTRAIN" train "${unetddp[@]}" --batch-size 16 --run-dir unet.r1 >unet.r1.log
"$mpirun" -np 2 "$HPCTRAIN" train "${unetddp[@]}" --batch-size 8 --run-dir unet.r2 >unet.r2.log
msg=$(same_weights unet.r1 unet.r2) || die "unet1d on 2 ranks differs from 1 rank: $msg"
pass "unet1d on padded sequences, 2 ranks reach the 1-rank weights: $msg"

# Gradients of the whole model against PyTorch autograd: one SGD step (lr 10, momentum 0) on all 48
# rows in one batch, so the step's gradient is (before - after) / 10 (tests/reference/
# sgd_step_gradients.py); "before" is a run of one step of lr 1e-30 (the initial weights: lr must be
# positive). Odd L (19), lengths L/4 .. L, 3 U-Net levels (19 -> 10 -> 5 -> 3: the up convs add output
# padding 0, 1, 0).
"$HPCTRAIN" gen-data --kind seq-majority --n 48 --seq-len 19 --encoding onehot --seed 5 --out grad.h5 >/dev/null
step=(--data.train grad.h5 --data.val grad.h5 --data.standardize false --model.channels 6 --model.kernel-size 3
      --model.activation gelu-exact --batch-size 48 --epochs 1 --optim.name sgd --optim.momentum 0 --threads 1 --quiet)
while read -r name options; do
  "$HPCTRAIN" train "${step[@]}" $options --optim.lr 1e-30 --run-dir "$name.w0" >/dev/null
  "$HPCTRAIN" train "${step[@]}" $options --optim.lr 10 --init "$name.w0/model.h5" --run-dir "$name.w1" >/dev/null
  msg=$("$PYTHON" "$HPCTRAIN_SOURCE/tests/reference/sgd_step_gradients.py" "$name.w0/model.h5" "$name.w1/model.h5" \
        grad.h5 10) || die "$name: gradients differ from PyTorch autograd: $msg"
  pass "$name gradients against PyTorch autograd: $msg"
done <<LIST
cnn1d --model.type cnn1d --model.layers 2 --model.dilations 1,2
unet1d --model.type unet1d --model.layers 3
LIST
finish
