#!/usr/bin/env bash
# Training throughput of two builds side by side (e.g. before and after a change), in one run on the
# same machine, runs interleaved (A, B, A, B, ...) so that load and clock drift hit both alike.
# Models: the default MLP (64x3) and a 256x3 MLP on the default data, the tabular transformer
# (physics19 1280 rows, d 128, 4 layers, batch 128) and a small byte LM (d 128, 2 layers, 64 tokens, batch 16);
# 1 and 2 threads. Each cell is the median of REPEATS runs (default 5); samples/s exclude the first
# epoch and the validation pass. Prints B/A per cell.
# Usage: benchmarks/compare_builds.sh BUILD_A BUILD_B   (directories holding an hpctrain binary);
# MODELS="tabular lm" and THREADS="2" select cells.
set -euo pipefail
cd "$(dirname "$0")/.."
a=$1/hpctrain b=$2/hpctrain
repeats=${REPEATS:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$a" gen-data --config configs/default-data.ini --out "$work/mlp.h5" >/dev/null
"$a" gen-data --kind physics19 --n 1280 --out "$work/tabular.h5" >/dev/null
head -c 20000 tests/data/lm-text.txt >"$work/text.txt"
"$a" convert --text "$work/text.txt" --seq-len 64 --out "$work/lm.h5" >/dev/null

declare -A args=(
  [mlp64x3]="--data.train $work/mlp.h5 --epochs 6"
  [mlp256x3]="--data.train $work/mlp.h5 --model.widths 256,256,256 --epochs 4"
  [tabular]="--data.train $work/tabular.h5 --model.type transformer-tabular --model.d-model 128 --model.heads 4 --model.layers 4 --batch-size 128 --epochs 3"
  [lm]="--data.train $work/lm.h5 --model.type lm --model.d-model 128 --model.heads 4 --model.layers 2 --batch-size 16 --epochs 3")
rate() {  # binary model threads
  OMP_NUM_THREADS=$3 "$1" train ${args[$2]} --threads "$3" --optim.weight-decay 0.01 --eval-every 1000 \
    --run-dir "$work/run" --quiet | sed -n 's/.*| \([0-9.]*\) samples\/s.*/\1/p'
}
median() { sort -n | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

printf "%-9s %-7s %12s %12s %7s\n" model threads "A samples/s" "B samples/s" "B/A"
for model in ${MODELS:-mlp64x3 mlp256x3 tabular lm}; do
  for t in ${THREADS:-1 2}; do
    : >"$work/a" && : >"$work/b"
    for _ in $(seq "$repeats"); do
      rate "$a" "$model" "$t" >>"$work/a"
      rate "$b" "$model" "$t" >>"$work/b"
    done
    ra=$(median <"$work/a") rb=$(median <"$work/b")
    printf "%-9s %-7s %12s %12s %7.3f\n" "$model" "$t" "$ra" "$rb" "$(awk -v x="$rb" -v y="$ra" 'BEGIN {print x / y}')"
  done
done
