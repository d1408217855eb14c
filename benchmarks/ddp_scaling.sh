#!/usr/bin/env bash
# Data-parallel scaling on this machine: the default MLP (4 -> 64x3 -> 1) and a wide one
# (4 -> 1024x5 -> 1, about 4.2M parameters), each trained with local batch 128 as
#   1 rank x 1 thread, 1 rank x 2 threads, 2 ranks x 1 thread (mpirun, global batch 256),
# all in the same run. Prints samples/s (all ranks, first epoch excluded), the DDP efficiency
# (2-rank throughput over twice the 1-rank-1-thread throughput) and, for the 2-rank runs, the
# exposed communication fraction (time rank 0 waits on allreduce not hidden behind backward, over
# its step time, from metrics.csv, first epoch excluded). Each cell is the median of REPEATS runs.
# Targets (issue 3): efficiency >= 0.9, exposed communication < 5%.
# Usage: benchmarks/ddp_scaling.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source benchmarks/mlp_pair_setup.sh "$@"

# run RANKS THREADS DATA WIDTHS EPOCHS: prints "samples/s comm_fraction" of one run.
run() {
  local launch=()
  [[ $1 -gt 1 ]] && launch=(mpirun -np "$1" --bind-to none)
  OMP_NUM_THREADS=$2 "${launch[@]}" "$bin" train --data.train "$3" --data.val-fraction 0 --model.widths "$4" \
    --epochs "$5" --batch-size 128 --threads "$2" --optim.weight-decay 0.01 --run-dir "$work/run" --quiet |
    sed -n 's/.*| \([0-9]*\) samples\/s.*/\1/p' | tr '\n' ' '
  awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next}
           NR > 2 {w += $c["t_comm_wait"]; t += $c["t_data"] + $c["t_forward"] + $c["t_backward"] + $c["t_comm_wait"] + $c["t_optimizer"]}
           END {printf "%.4f\n", (t > 0 ? w / t : 0)}' "$work/run/metrics.csv"
}
cell() {  # RANKS THREADS DATA WIDTHS EPOCHS -> median samples/s, median comm fraction
  local out
  out=$(for _ in $(seq "$repeats"); do run "$@"; done)
  echo "$(cut -d' ' -f1 <<<"$out" | median) $(cut -d' ' -f2 <<<"$out" | median)"
}

printf "%-22s %12s %12s %12s %10s %12s\n" model "1r x 1t/s" "1r x 2t/s" "2r x 1t/s" efficiency "comm wait"
for spec in "default 64,64,64 small.h5 4" "wide-4.2M 1024,1024,1024,1024,1024 wide.h5 3"; do
  set -- $spec
  read -r r11 _ <<<"$(cell 1 1 "$work/$3" "$2" "$4")"
  read -r r12 _ <<<"$(cell 1 2 "$work/$3" "$2" "$4")"
  read -r r21 frac <<<"$(cell 2 1 "$work/$3" "$2" "$4")"
  printf "%-22s %12s %12s %12s %10.3f %11.1f%%\n" "$1" "$r11" "$r12" "$r21" \
    "$(awk -v a="$r21" -v b="$r11" 'BEGIN {print a / (2 * b)}')" "$(awk -v f="$frac" 'BEGIN {print 100 * f}')"
done
