#!/usr/bin/env bash
# ZeRO-1 against unsharded DDP on 2 ranks x 1 thread (mpirun), in the same run: the default MLP
# (4 -> 64x3 -> 1) and a wide one (4 -> 1024x5 -> 1, about 4.2M parameters), AdamW, local batch 128.
# Prints samples/s of both (all ranks, first epoch excluded; the median of REPEATS runs, the two
# settings interleaved so that the load of a shared machine falls on both alike), the step-time
# ratio zero-1 / zero-0 (target <= 1.05), and the optimizer state per rank from events.jsonl.
# Usage: benchmarks/zero_bench.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/mlp_pair_setup.sh "$@"

# run ZERO DATA WIDTHS EPOCHS: prints the samples/s of one run (its state bytes go to $work/bytes-ZERO).
run() {
  rm -rf "$work/run"
  OMP_NUM_THREADS=1 mpirun -np 2 --bind-to none "$bin" train --data.train "$2" --data.val-fraction 0 \
    --model.widths "$3" --epochs "$4" --batch-size 128 --threads 1 --optim.weight-decay 0.01 --zero "$1" \
    --run-dir "$work/run" --quiet | sed -n 's/.*| \([0-9]*\) samples\/s.*/\1/p'
  grep '"event":"optimizer"' "$work/run/events.jsonl" | sed -n 's/.*"state_bytes_per_rank":\([0-9]*\).*/\1/p' >"$work/bytes-$1"
}

printf "%-12s %12s %12s %18s %16s %16s\n" model "zero-0 /s" "zero-1 /s" "step ratio z1/z0" "state z0 B/rank" "state z1 B/rank"
for spec in "default 64,64,64 small.h5 4" "wide-4.2M 1024,1024,1024,1024,1024 wide.h5 3"; do
  set -- $spec
  : >"$work/z0"; : >"$work/z1"
  for _ in $(seq "$repeats"); do
    run 0 "$work/$3" "$2" "$4" >>"$work/z0"
    run 1 "$work/$3" "$2" "$4" >>"$work/z1"
  done
  z0=$(median <"$work/z0"); z1=$(median <"$work/z1")
  printf "%-12s %12s %12s %18.3f %16s %16s\n" "$1" "$z0" "$z1" "$(awk -v a="$z0" -v b="$z1" 'BEGIN {print a / b}')" \
    "$(cat "$work/bytes-0")" "$(cat "$work/bytes-1")"
done
