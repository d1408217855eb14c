# --precision bf16 | fp16: parameters, activations and gradients in 16 bits (stored rounded on the CPU,
# fp32 arithmetic), fp32 master weights, optimizer state and losses; fp16 with dynamic loss scaling.
# Training reaches the fp32 run's validation metric within a tolerance; an fp16 overflow on one rank
# makes every rank skip that step and halve the scale; checkpoints hold fp32 weights, so a bf16 run's
# checkpoint starts an fp32 run and the other way round.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

# The default MLP on the default data (heteroscedastic regression), 8 epochs. Measured r2: fp32
# 0.8412, bf16 0.8411, fp16 0.8412; the tolerance is 0.01.
"$HPCTRAIN" gen-data --config "$HPCTRAIN_SOURCE/configs/default-data.ini" --out d.h5 >/dev/null
for p in fp32 bf16 fp16; do
  "$HPCTRAIN" train --data.train d.h5 --epochs 8 --threads 1 --precision $p --run-dir mlp_$p >mlp_$p.log
  grep -q "precision $p" mlp_$p.log || die "the banner does not name precision $p"
done
for p in bf16 fp16; do
  check "abs(r2 - r2_fp32) < 0.01" r2="$(final_metric r2 mlp_$p.log)" r2_fp32="$(final_metric r2 mlp_fp32.log)"
done
grep -q "loss scale 65536, 0 skipped" mlp_fp16.log || die "fp16: the loss scale changed or steps were skipped"
pass "fp16 trained without a skipped step at scale 2^16"

# The tabular transformer on physics19 (two targets). fp16 starts at scale 2^10: at 2^16 its first step
# overflows and is skipped, which changes the trajectory as much as another seed does (r2 after 6
# epochs: 0.858 with seed 1, 0.70-0.86 over seeds 2-3), so the comparison would test the seed, not
# the rounding; the scaler's skipping is tested below. Measured r2: fp32 0.858, bf16 0.855, fp16
# 0.858; the tolerance is 0.02.
"$HPCTRAIN" gen-data --kind physics19 --n 1200 --out phys.h5 >/dev/null
tab=(--data.train phys.h5 --model.type transformer-tabular --model.d-model 32 --model.heads 4 --model.layers 2
     --epochs 6 --batch-size 64 --threads 1 --optim.lr 2e-3)
for p in fp32 bf16 fp16; do
  "$HPCTRAIN" train "${tab[@]}" --precision $p --precision.init-scale 1024 --run-dir tab_$p >tab_$p.log
done
for p in bf16 fp16; do
  check "abs(r2 - r2_fp32) < 0.02" r2="$(final_metric r2 tab_$p.log)" r2_fp32="$(final_metric r2 tab_fp32.log)"
done

# An overflow on rank 1 at step 3 (the +Inf an fp16 overflow gives, injected into its output gradient):
# both ranks skip the step (the weights stay identical: --ddp.check-every 1 compares them after every
# step) and halve the scale.
mpirun -np 2 "$HPCTRAIN" train --data.train d.h5 --epochs 2 --threads 1 --precision fp16 \
  --debug.overflow-step 3 --debug.overflow-rank 1 --ddp.check-every 1 --run-dir ovf >ovf.log
grep -q "loss scale 32768, 1 skipped step(s)" ovf.log || die "the overflow was not skipped once with the scale halved: $(grep epoch ovf.log)"
"$PYTHON" - ovf/metrics.csv <<'PY' || die "metrics.csv lacks the scaler's columns"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [float(r["loss_scale"]) for r in rows] == [32768.0, 32768.0], rows
assert [float(r["skipped_steps"]) for r in rows] == [1.0, 1.0], rows
PY
pass "fp16 overflow on one of 2 ranks: every rank skipped step 3 and halved the scale (weights checked equal every step)"

# Checkpoints keep fp32 weights: a bf16 run's checkpoint starts an fp32 run and the other way round.
# With a vanishing learning rate the started run ends where its checkpoint began (within 1e-6).
"$PYTHON" - mlp_bf16/model.h5 <<'PY' || die "the bf16 checkpoint does not hold float32 weights"
import h5py, sys
p = h5py.File(sys.argv[1])["params"]
assert all(p[k].dtype == "float32" for k in p), {k: p[k].dtype for k in p}
PY
for pair in "bf16 fp32" "fp32 bf16" "fp32 fp16"; do
  set -- $pair
  "$HPCTRAIN" train --data.train d.h5 --epochs 1 --threads 1 --precision $2 --init mlp_$1/model.h5 \
    --optim.lr 1e-12 --run-dir init_$1_$2 >init_$1_$2.log
  "$PYTHON" - mlp_$1/model.h5 init_$1_$2/model.h5 <<'PY' || die "--init from a $1 checkpoint into a $2 run lost the weights"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
worst = max(np.abs(a[k][:] - b[k][:]).max() / max(np.abs(a[k][:]).max(), 1e-30) for k in a)
print(f"worst relative change {worst:.1e}")
sys.exit(0 if worst < 1e-6 else 1)
PY
  pass "a $1 checkpoint starts a $2 run"
done

# A bad value is named.
expect_fail "option --precision: unknown precision 'fp8'" "$HPCTRAIN" train --data.train d.h5 --precision fp8 --run-dir bad
finish
