#!/usr/bin/env bash
# Single-process training throughput (samples/s) of the default MLP (4 -> 64x3 -> 1, GELU, AdamW,
# batch 128) on the default data set, with 1 and 2 threads, beside the same model in PyTorch
# (Debian's python3-torch) measured in the same run. Also a wider MLP (256x3). Each cell is the median
# of REPEATS runs (default 3); hpctrain's own figure excludes the first epoch, like PyTorch's.
# Usage: benchmarks/mlp_throughput.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build}/hpctrain
repeats=${REPEATS:-3}
epochs=${EPOCHS:-6}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" gen-data --config configs/default-data.ini --out "$work/data.h5" >/dev/null

median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
hpctrain_rate() {  # threads widths
  for _ in $(seq "$repeats"); do
    OMP_NUM_THREADS=$1 "$bin" train --data.train "$work/data.h5" --epochs "$epochs" --threads "$1" \
      --model.widths "$2" --optim.weight-decay 0.01 --eval-every 1000 --run-dir "$work/run" --quiet |
      sed -n 's/.*| \([0-9]*\) samples\/s.*/\1/p'
  done | median
}
torch_rate() {
  for _ in $(seq "$repeats"); do
    OMP_NUM_THREADS=$1 /usr/bin/python3 benchmarks/torch_mlp_train.py "$work/data.h5" --threads "$1" \
      --epochs "$epochs" --widths "$2"
  done | median
}

printf "%-10s %-8s %14s %14s %8s\n" model threads "hpctrain/s" "pytorch/s" ratio
for widths in 64,64,64 256,256,256; do
  for t in 1 2; do
    h=$(hpctrain_rate "$t" "$widths")
    p=$(torch_rate "$t" "$widths")
    printf "%-10s %-8s %14s %14s %8.2f\n" "$widths" "$t" "$h" "$p" "$(awk -v a="$h" -v b="$p" 'BEGIN {print a / b}')"
  done
done
