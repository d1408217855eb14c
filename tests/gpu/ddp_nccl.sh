# Data parallel over NCCL on the GPUs of one node: mpirun -np 2 (one GPU per rank, batch 32 each) gives
# the weights of one process on one GPU with batch 64 (within 1e-4 relative per tensor, as the MPI
# path), with the gradients in NCCL-registered memory (--ddp.zero-copy, the default) and without.
# Needs 2 GPUs: with fewer it says so and is skipped.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$GPU_PROBE" >probe.txt || { cat probe.txt; exit 77; }
gpus=$(cut -d' ' -f1 probe.txt)
(( gpus >= 2 )) || { echo "skipped: $gpus GPU usable, NCCL data parallel needs 2"; exit 77; }
mpirun=${MPIRUN:-mpirun}

"$HPCTRAIN" gen-data --kind physics19 --n 1603 --out d.h5 >/dev/null
common=(--device cuda --data.train d.h5 --epochs 3 --model.widths 64,32 --optim.weight-decay 0.01 --data.drop-last
        --ddp.check-every 5)
"$HPCTRAIN" train "${common[@]}" --batch-size 64 --run-dir r1 >r1.log 2>&1 || die "1 GPU failed: $(tail -5 r1.log)"
for zc in true false; do
  "$mpirun" -np 2 "$HPCTRAIN" train "${common[@]}" --batch-size 32 --dist.backend nccl --ddp.zero-copy "$zc" \
    --run-dir "r2-$zc" >"r2-$zc.log" 2>&1 || die "2 GPUs (zero-copy $zc) failed: $(tail -5 "r2-$zc.log")"
  msg=$(same_weights r1 "r2-$zc") || die "2 GPUs over NCCL (zero-copy $zc) differ from 1 GPU: $msg"
  pass "NCCL, 2 GPUs x 32 = 1 GPU x 64 (registered gradient buffer: $zc; $msg)"
done
finish
