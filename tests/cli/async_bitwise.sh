# The asynchronous CPU backend (--device cpu-async: every op later, on a worker thread per stream, in
# memory the host may not touch) trains to the synchronous backend's weights bit for bit: the MLP with
# dropout, the tabular transformer with CLS pooling and dropout, a padded sequence transformer with
# per-token targets, the lm, 2 accumulated micro-batches, fp16 with its loss scaler, DDP on 2 ranks
# (shared-memory window and MPI_Allreduce) and an ensemble of 2 groups. A missing wait for an event
# shows here as different bits (the asynchronous backend poisons fresh memory with NaN).
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
unset HPCTRAIN_DEVICE  # each run names its device

"$HPCTRAIN" gen-data --config "$HPCTRAIN_SOURCE/configs/default-data.ini" --n 2048 --out d.h5 >/dev/null
"$HPCTRAIN" gen-data --kind physics19 --n 512 --out phys.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-sum --n 256 --seq-len 16 --out sum.h5 >/dev/null
head -c 8000 "$HPCTRAIN_SOURCE/tests/data/lm-text.txt" >text.txt
"$HPCTRAIN" convert --text text.txt --seq-len 32 --out text.h5 >/dev/null
small=(--model.d-model 16 --model.heads 2 --model.layers 2 --batch-size 32 --epochs 2)

bitwise() {  # NAME: NAME-cpu/model.h5 and NAME-cpu-async/model.h5 hold the same bits
  "$PYTHON" - "$1-cpu/model.h5" "$1-cpu-async/model.h5" <<'PY' || die "$1: cpu-async differs from cpu"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
assert list(a) == list(b)
sys.exit(0 if all(a[k][:].tobytes() == b[k][:].tobytes() for k in a) else 1)
PY
  pass "$1: cpu-async gives cpu's weights bit for bit"
}
run() {  # NAME ARGS...: trains on both devices
  local name=$1; shift
  for dev in cpu cpu-async; do "$@" --device $dev --run-dir "$name-$dev" >"$name-$dev.log"; done
  bitwise "$name"
}

run mlp "$HPCTRAIN" train --data.train d.h5 --epochs 3 --model.dropout 0.1 --threads 2
run tabular "$HPCTRAIN" train --data.train phys.h5 --model.type transformer-tabular --model.pooling cls \
  --model.dropout 0.1 "${small[@]}"
run tokens "$HPCTRAIN" train --data.train sum.h5 --model.type transformer --model.max-length 20 "${small[@]}"
run lm "$HPCTRAIN" train --data.train text.h5 --model.type lm "${small[@]}" --optim.clip-norm 0.5
run accum "$HPCTRAIN" train --data.train d.h5 --epochs 2 --batch-size 64 --accum-steps 2
run fp16 "$HPCTRAIN" train --data.train d.h5 --epochs 2 --precision fp16
run ddp mpirun -np 2 "$HPCTRAIN" train --data.train d.h5 --epochs 2 --threads 1 --ddp.bucket-mb 0.01 --ddp.check-every 4
run ddp-mpi mpirun -np 2 "$HPCTRAIN" train --data.train d.h5 --epochs 2 --threads 1 --ddp.zero-copy false
for dev in cpu cpu-async; do
  mpirun -np 2 "$HPCTRAIN" train --data.train d.h5 --epochs 2 --threads 1 --ensemble.members 2 --groups 2 \
    --device $dev --run-dir ens-$dev >ens-$dev.log
done
for m in member-000 member-001; do
  mkdir -p "ens-$m-cpu" "ens-$m-cpu-async"
  cp "ens-cpu/$m/model.h5" "ens-$m-cpu/" && cp "ens-cpu-async/$m/model.h5" "ens-$m-cpu-async/"
  bitwise "ens-$m"
done
finish
