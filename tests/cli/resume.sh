# Periodic checkpoints and bit-exact resume: N steps, a stop (--debug.stop-after-steps), --resume and
# the rest give the weights of the run that went straight through, bit for bit, on 1 and 2 ranks, with
# dropout, shuffling, accumulation and the prefetching loader, in fp32, bf16 and fp16 (with its
# scaler). Then: --resume auto without and with a checkpoint, a refused change of the math, an allowed
# change of epochs, --checkpoint.keep, a corrupt latest checkpoint, metrics.csv without duplicates.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

"$HPCTRAIN" gen-data --config "$HPCTRAIN_SOURCE/configs/default-data.ini" --n 600 --out d.h5 >/dev/null
# 480 training rows, 32 a micro-batch, 2 per step: 8 steps an epoch on 1 rank, 4 on 2 ranks.
base=(--data.train d.h5 --threads 1 --accum-steps 2 --model.dropout 0.1 --data.workers 2)
std=("${base[@]}" --batch-size 32 --epochs 3)

# epochs_of RUN: the epoch column of RUN/metrics.csv, comma-separated.
epochs_of() { tail -n +2 "$1/metrics.csv" | cut -d, -f1 | paste -sd, -; }

# bitexact NAME STOP LAUNCHER... -- OPTIONS...: a straight run, and a run stopped after STOP steps
# (checkpoints every 3 steps) then resumed; their weights must be the same bits.
bitexact() {
  local name=$1 stop=$2; shift 2
  local launch=()
  while [[ $1 != -- ]]; do launch+=("$1"); shift; done
  shift
  "${launch[@]}" "$HPCTRAIN" train "${std[@]}" "$@" --run-dir ${name}_straight >/dev/null
  "${launch[@]}" "$HPCTRAIN" train "${std[@]}" "$@" --checkpoint.every-steps 3 --debug.stop-after-steps $stop \
    --run-dir $name >${name}_1.log
  [[ ! -e $name/model.h5 ]] || die "$name: the stopped run wrote model.h5"
  "${launch[@]}" "$HPCTRAIN" train "${std[@]}" "$@" --checkpoint.every-steps 3 --resume $name >${name}_2.log
  same_bits ${name}_straight $name || die "$name: resumed after $stop steps, the weights differ"
  [[ $(epochs_of $name) == 1,2,3 ]] || die "$name: metrics.csv epochs are $(epochs_of $name)"
  pass "$name: $stop steps + resume = straight run, bit for bit; metrics.csv rows 1,2,3"
}

# 1 rank: step 11 is within epoch 2 (micro-batch 6 of 15); fp16 starts at 2^18 so it skips steps.
bitexact fp32 11 -- --precision fp32
bitexact bf16 11 -- --precision bf16
bitexact fp16 11 -- --precision fp16 --precision.init-scale 262144 --precision.growth-interval 4
# 1 rank: the train_loss of the epoch the stop fell in is restored too (its partial sum is saved).
cut -d, -f1-4 fp32/metrics.csv >resumed.csv
cut -d, -f1-4 fp32_straight/metrics.csv >straight.csv
cmp -s resumed.csv straight.csv || die "1 rank: the resumed metrics.csv differs: $(paste resumed.csv straight.csv)"
pass "1 rank: metrics.csv's epoch, step, lr and train_loss are those of the straight run"
# The tabular transformer (attention and residual dropout) with SGD's momentum buffer.
bitexact tab_sgd 11 -- --model.type transformer-tabular --model.d-model 16 --model.heads 2 --model.layers 1 \
  --optim.name sgd --optim.lr 0.01
# 2 ranks (one checkpoint writer): step 6 is within epoch 2.
bitexact np2_fp32 6 mpirun -np 2 -- --precision fp32
bitexact np2_bf16 6 mpirun -np 2 -- --precision bf16
bitexact np2_fp16 6 mpirun -np 2 -- --precision fp16 --precision.init-scale 262144 --precision.growth-interval 4
# ZeRO-1: the optimizer state sharded over the 2 ranks, gathered into each checkpoint and sharded again.
bitexact np2_zero_fp32 6 mpirun -np 2 -- --precision fp32 --zero 1
bitexact np2_zero_bf16 6 mpirun -np 2 -- --precision bf16 --zero 1

# An ensemble of 2 members (one group of 1 rank here): each member checkpoints in RUN/member-XXX and
# --resume auto continues each.
"$HPCTRAIN" train "${std[@]}" --ensemble.members 2 --run-dir ens_straight >/dev/null
"$HPCTRAIN" train "${std[@]}" --ensemble.members 2 --resume auto --debug.stop-after-steps 11 --run-dir ens >/dev/null
[[ ! -e ens/member-001/model.h5 && -e ens/member-001/checkpoints/step-00000011.h5 ]] || die "ensemble: stopped members"
"$HPCTRAIN" train "${std[@]}" --ensemble.members 2 --resume auto --run-dir ens >/dev/null
for m in 000 001; do
  same_bits ens_straight/member-$m ens/member-$m || die "ensemble member $m: resumed weights differ"
done
pass "ensemble of 2: each member stopped and resumed (--resume auto) = straight, bit for bit"
expect_fail "an ensemble resumes with --resume auto" "$HPCTRAIN" train "${std[@]}" --ensemble.members 2 --resume ens

# The stopped run's metrics.csv already has its finished epoch (rows are written as they come).
"$HPCTRAIN" train "${std[@]}" --debug.stop-after-steps 11 --run-dir partial >/dev/null
[[ $(epochs_of partial) == 1 ]] || die "a stopped run's metrics.csv has epochs $(epochs_of partial)"
pass "a run stopped in epoch 2 has epoch 1's metrics row"

# --resume auto: a fresh start without a checkpoint, the continuation with one.
"$HPCTRAIN" train "${std[@]}" --resume auto --debug.stop-after-steps 11 --run-dir auto >auto_1.log
grep -q "a fresh start" auto_1.log || die "--resume auto without a checkpoint: $(cat auto_1.log)"
"$HPCTRAIN" train "${std[@]}" --resume auto --run-dir auto >auto_2.log
grep -q "resuming from auto/checkpoints/step-00000011.h5" auto_2.log || die "--resume auto did not resume: $(cat auto_2.log)"
same_bits fp32_straight auto || die "--resume auto: the weights differ from the straight run"
pass "--resume auto: a fresh start, then the continuation (bit for bit)"

# A change of the math is refused, naming the options; a checkpoint's run directory is needed.
expect_fail "--batch-size (checkpoint 32, now 16)" "$HPCTRAIN" train "${base[@]}" --epochs 3 --batch-size 16 --resume partial
expect_fail "--model.widths (checkpoint 64,64,64, now 32)" "$HPCTRAIN" train "${std[@]}" --model.widths 32 --precision bf16 --resume partial
grep -qF -- "--precision (checkpoint fp32, now bf16)" err.log || die "the refusal does not name --precision: $(cat err.log)"
pass "the refusal names every option that differs"
expect_fail "the world size (checkpoint 2, now 1)" "$HPCTRAIN" train "${std[@]}" --precision fp32 --resume np2_fp32
expect_fail "option --resume: nothing has no complete checkpoint" "$HPCTRAIN" train "${std[@]}" --resume nothing
# Epochs may change: 3 epochs, then resumed to 4, equal 4 straight (the constant schedule).
"$HPCTRAIN" train "${base[@]}" --batch-size 32 --epochs 4 --run-dir four_straight >/dev/null
cp -r fp32_straight four
"$HPCTRAIN" train "${base[@]}" --batch-size 32 --epochs 4 --resume four >/dev/null
same_bits four_straight four || die "3 epochs + 1 resumed differ from 4 straight"
[[ $(epochs_of four) == 1,2,3,4 ]] || die "epochs 3 -> 4: metrics.csv epochs are $(epochs_of four)"
pass "--epochs 3 then resumed with --epochs 4 = 4 epochs straight"
expect_fail "option --epochs: 3 ends before the checkpoint (epoch 5, micro-batch 0)" \
  "$HPCTRAIN" train "${base[@]}" --batch-size 32 --epochs 3 --resume four
expect_fail "option --epochs: 1 ends before the checkpoint (epoch 2, micro-batch 6)" \
  "$HPCTRAIN" train "${base[@]}" --batch-size 32 --epochs 1 --resume partial

# --checkpoint.keep 2: the newest two step files, latest naming the newest.
ls fp32/checkpoints >files.txt
[[ $(paste -sd' ' files.txt) == "latest step-00000021.h5 step-00000024.h5" ]] || die "keep 2 left: $(cat files.txt)"
[[ $(cat fp32/checkpoints/latest) == step-00000024.h5 ]] || die "latest names $(cat fp32/checkpoints/latest)"
"$HPCTRAIN" train "${std[@]}" --checkpoint.keep 0 --run-dir none >/dev/null
[[ ! -e none/checkpoints ]] || die "--checkpoint.keep 0 wrote checkpoints"
pass "--checkpoint.keep 2 keeps the newest two; 0 writes none"

# --checkpoint.every-minutes, looked at at log points (here every 2 steps) and epoch ends.
"$HPCTRAIN" train "${base[@]}" --batch-size 32 --epochs 1 --checkpoint.keep 9 --checkpoint.every-minutes 1e-9 \
  --log-every 2 --run-dir minutes >/dev/null
ls minutes/checkpoints >files.txt
[[ $(paste -sd' ' files.txt) == "latest step-00000002.h5 step-00000004.h5 step-00000006.h5 step-00000008.h5" ]] \
  || die "--checkpoint.every-minutes: $(cat files.txt)"
# Resumed after its last epoch, a run has nothing to train and reports its last row.
"$HPCTRAIN" train "${base[@]}" --batch-size 32 --epochs 1 --resume minutes >again.log
check "abs(a - b) < 1e-4" a="$(final_metric r2 again.log)" b="$(tail -1 minutes/metrics.csv | cut -d, -f8)"
pass "--checkpoint.every-minutes at log points; a finished run resumed reports its last row"

# A corrupt latest checkpoint (a weight changed behind its checksum): a warning, and the previous one
# resumes, still bit for bit.
"$HPCTRAIN" train "${std[@]}" --checkpoint.every-steps 3 --debug.stop-after-steps 12 --run-dir corrupt >/dev/null
"$PYTHON" - corrupt/checkpoints/step-00000012.h5 <<'PY'
import sys, h5py
with h5py.File(sys.argv[1], "r+") as f:
    w = f["params"][list(f["params"])[0]]
    w[0, 0] = w[0, 0] + 1.0
PY
"$HPCTRAIN" train "${std[@]}" --checkpoint.every-steps 3 --resume corrupt >corrupt.log 2>corrupt.err
grep -q "step-00000012.h5: /params/.* is corrupt (its checksum does not match); trying the previous checkpoint" corrupt.err \
  || die "no warning about the corrupt checkpoint: $(cat corrupt.err)"
grep -q "resuming from corrupt/checkpoints/step-00000009.h5" corrupt.log || die "did not fall back: $(cat corrupt.log)"
same_bits fp32_straight corrupt || die "resumed from the previous checkpoint, the weights differ"
[[ $(epochs_of corrupt) == 1,2,3 ]] || die "corrupt: metrics.csv epochs are $(epochs_of corrupt)"
pass "a corrupt latest checkpoint: warned, the previous one resumed, bit for bit"

finish
