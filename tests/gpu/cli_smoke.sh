# train --device cuda end to end: an MLP (gemm with the bias epilogue, GELU, layernorm, dropout, MSE, AdamW
# in bf16 with master weights) learns, and its banner names the GPU. Without a GPU: skipped.
source "$(dirname "$0")/../lib.sh"
"$GPU_PROBE" || exit 77
"$HPCTRAIN" gen-data --kind heteroscedastic --n 4096 --out hetero.h5 >/dev/null
"$HPCTRAIN" train --device cuda --data.train hetero.h5 --epochs 5 --model.layernorm true --model.dropout 0.1 \
  --run-dir run-cuda >cuda.log 2>&1 || die "train --device cuda failed: $(tail -5 cuda.log)"
grep -q "backend cuda:" cuda.log || die "the banner does not name the CUDA backend: $(head -5 cuda.log)"
pass "train --device cuda runs and names its backend"
check "r2 > 0.5" r2="$(final_metric r2 cuda.log)"
"$HPCTRAIN" train --device cuda --precision bf16 --data.train hetero.h5 --epochs 5 --run-dir run-bf16 >bf16.log 2>&1 ||
  die "train --device cuda --precision bf16 failed: $(tail -5 bf16.log)"
check "r2 > 0.5" r2="$(final_metric r2 bf16.log)"
finish
