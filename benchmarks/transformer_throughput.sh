#!/usr/bin/env bash
# Training throughput of two transformers, beside the same models in PyTorch (Debian's python3-torch,
# benchmarks/torch_transformer_train.py) and as model FLOPs utilisation (MFU): model FLOPs per second
# over the sgemm rate (benchmarks/sgemm_rate.cpp) measured in the same run, on 1 and 2 threads.
#   tabular: transformer-tabular, 19 features (physics19), d_model 128, 4 heads, 4 layers, batch 128
#   lm:      byte-level LM, sequences of 128, d_model 256, 4 heads, 4 layers, batch 8
# Model FLOPs per sample = 3 x forward (backward is twice the forward), forward = per token and
# layer 24 D^2 (QKV, output projection, MLP of ratio 4) + 4 L D for attention (2 L D for the causal
# LM: only the products it needs), plus the head; embeddings and elementwise work are not counted.
# Each cell is the median of REPEATS runs (default 3) of EPOCHS_TABULAR (8) or EPOCHS_LM (3) epochs;
# samples/s exclude the first epoch (and hpctrain's validation pass); MFU divides by the sgemm rate
# measured around the same repeat (see below).
# Usage: benchmarks/transformer_throughput.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bin=$build/hpctrain
repeats=${REPEATS:-3}
# Epochs per run: the tabular model's are short (16 steps, a few seconds), so it runs more of them.
declare -A epochs=([tabular]=${EPOCHS_TABULAR:-8} [lm]=${EPOCHS_LM:-3})
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" gen-data --kind physics19 --n 2560 --out "$work/tabular.h5" >/dev/null
# About 100 kB of text: this repository's README and sources.
cat README.md src/*/*.cpp kernels/*/*.cpp >"$work/all.txt"
head -c 100000 "$work/all.txt" >"$work/text.txt"
"$bin" convert --text "$work/text.txt" --seq-len 128 --out "$work/lm.h5" >/dev/null

declare -A hp_args=(
  [tabular]="--data.train $work/tabular.h5 --model.type transformer-tabular --model.d-model 128 --model.heads 4 --model.layers 4 --batch-size 128"
  [lm]="--data.train $work/lm.h5 --model.type lm --model.d-model 256 --model.heads 4 --model.layers 4 --batch-size 8")
declare -A torch_args=(
  [tabular]="tabular $work/tabular.h5 --d-model 128 --batch-size 128"
  [lm]="lm $work/lm.h5 --d-model 256 --batch-size 8")
# forward FLOPs per sample: tokens T, layers N, width D, attention factor (4 full, 2 causal), head width
declare -A flops=(
  [tabular]=$(python3 -c "T,N,D=19,4,128; print(3*(T*N*(24*D*D+4*T*D)+2*D*2))")
  [lm]=$(python3 -c "T,N,D=128,4,256; print(3*(T*N*(24*D*D+2*T*D)+T*2*D*256))"))

hpctrain_rate() {  # model threads
  OMP_NUM_THREADS=$2 "$bin" train ${hp_args[$1]} --model.activation gelu-exact --epochs "${epochs[$1]}" --threads "$2" \
    --optim.weight-decay 0.01 --eval-every 1000 --run-dir "$work/run" --quiet | sed -n 's/.*| \([0-9.]*\) samples\/s.*/\1/p'
}
torch_rate() {  # model threads
  OMP_NUM_THREADS=$2 /usr/bin/python3 benchmarks/torch_transformer_train.py ${torch_args[$1]} --threads "$2" --epochs "${epochs[$1]}"
}
sgemm() { "$build/benchmarks/sgemm_rate" --threads "$1"; }

# Each repeat measures the sgemm rate just before and just after its two training runs and divides by
# their mean, so a change of clock or of load between repeats moves numerator and denominator
# together; every column is the median over the repeats.
printf "%-8s %-7s %9s %12s %12s %8s %9s %9s\n" model threads "sgemm GF" "hpctrain/s" "pytorch/s" ratio "MFU hp" "MFU torch"
for model in tabular lm; do
  for t in 1 2; do
    for _ in $(seq "$repeats"); do
      g0=$(sgemm "$t")
      h=$(hpctrain_rate "$model" "$t")
      p=$(torch_rate "$model" "$t")
      g1=$(sgemm "$t")
      echo "$g0 $g1 $h $p"
    done | awk -v m="$model" -v t="$t" -v f="${flops[$model]}" '
      function median(a, n,   i, j, x) {  # sorts a[1..n] in place
        for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j > 0 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
        return a[int((n + 1) / 2)]
      }
      { n++; g[n] = ($1 + $2) / 2; h[n] = $3; p[n] = $4; r[n] = $3 / $4
        mh[n] = 100 * $3 * f / (g[n] * 1e9); mp[n] = 100 * $4 * f / (g[n] * 1e9) }
      END { printf "%-8s %-7s %9.1f %12.1f %12.1f %8.2f %8.0f%% %8.0f%%\n", m, t, median(g, n), median(h, n),
            median(p, n), median(r, n), median(mh, n), median(mp, n) }'
  done
done
echo "(lm: multiply samples/s by 128 for tokens/s)"

# The ceiling OpenBLAS puts on MFU: the 12 products of one layer (forward, dX, dW of the QKV, output
# and two MLP projections; equal FLOPs per projection) timed alone on 1 thread at the model's own
# shapes, their FLOP-weighted rate over the square sgemm rate. Elementwise work, attention and cold
# caches come on top of this.
ceiling() {  # tokens width ff_width
  local m=$1 d=$2 f=$3 shapes=() s g0 g1 rates
  for pair in "$((3 * d)) $d" "$d $d" "$f $d" "$d $f"; do
    set -- $pair  # out in
    shapes+=("$m,$1,$2,0,1" "$m,$2,$1,0,0" "$1,$2,$m,1,0")
  done
  g0=$(sgemm 1)
  rates=$(for s in "${shapes[@]}"; do
    IFS=, read -r a b c _ _ <<<"$s"
    echo "$((2 * a * b * c)) $("$build/benchmarks/sgemm_rate" --shape "$s")"
  done)
  g1=$(sgemm 1)
  awk -v g="$(((${g0%.*} + ${g1%.*}) / 2))" '{ f += $1; t += $1 / ($2 * 1e9) }
    END { printf "%.0f%% (%.1f of %.0f GFLOP/s)\n", 100 * f / t / (g * 1e9), f / t / 1e9, g }' <<<"$rates"
}
echo "OpenBLAS ceiling on the models' own products, 1 thread:"
echo "  tabular: $(ceiling $((128 * 19)) 128 512)"
echo "  lm:      $(ceiling $((8 * 128)) 256 1024)"
