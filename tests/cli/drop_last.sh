# --data.drop-last: each epoch drops the permutation's rows after the last full global batch, so
# mpirun -np N with batch B equals one process with batch B x N (within 1e-4 relative per tensor)
# even when the rows do not divide by the ranks; without it the ranks pad their shares by repeating
# rows, and the two runs differ.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
mpirun=${MPIRUN:-mpirun}

# 1603 rows, 320 held out: 1283 training rows, odd (not divisible by 2 ranks nor by the batch).
"$HPCTRAIN" gen-data --kind physics19 --n 1603 --out d.h5 >/dev/null
common=(--data.train d.h5 --epochs 3 --threads 1 --model.widths 32,16 --optim.weight-decay 0.01 --ddp.check-every 5)
"$HPCTRAIN" train "${common[@]}" --batch-size 64 --data.drop-last --run-dir r1 >r1.log || die "1 process failed"
"$mpirun" -np 2 "$HPCTRAIN" train "${common[@]}" --batch-size 32 --data.drop-last --run-dir r2 >r2.log || die "2 ranks failed"
msg=$(same_weights r1 r2) || die "2 ranks with --data.drop-last differ from 1 process: $msg"
pass "drop-last: 2 ranks x 32 = 1 process x 64 on 1283 rows ($msg)"

"$HPCTRAIN" train "${common[@]}" --batch-size 64 --run-dir p1 >p1.log || die "1 process failed"
"$mpirun" -np 2 "$HPCTRAIN" train "${common[@]}" --batch-size 32 --run-dir p2 >p2.log || die "2 ranks failed"
if msg=$(same_weights p1 p2); then die "without --data.drop-last the padded run should differ: $msg"; fi
pass "without drop-last the padded 2-rank run differs from 1 process ($msg)"

expect_fail "option --data.drop-last: 1283 training rows make no full global batch of 2000 x 1 ranks" \
  "$HPCTRAIN" train "${common[@]}" --batch-size 2000 --data.drop-last --run-dir x
finish
