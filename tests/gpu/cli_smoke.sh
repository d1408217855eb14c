# train --device cuda end to end: an MLP (gemm with the bias epilogue, GELU, layernorm, dropout, MSE, AdamW
# in bf16 with master weights) learns, and its banner names the GPU; then every other model type (tabular
# transformer, token transformer with padding, lm, cnn1d with lengths, ssvae) trains a few steps on the GPU
# to the CPU's training loss (same seed and data; within 1%: the kernels agree to rounding, which a few
# steps of AdamW amplify little). Without a GPU: skipped.
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

"$HPCTRAIN" gen-data --kind physics19 --n 512 --out phys.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-sum --n 256 --seq-len 16 --out sum.h5 >/dev/null
head -c 8000 "$HPCTRAIN_SOURCE/tests/data/lm-text.txt" >text.txt
"$HPCTRAIN" convert --text text.txt --seq-len 32 --out text.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-majority --n 320 --seq-len 24 --encoding onehot --out maj.h5 >/dev/null
"$PYTHON" - <<'PY'  # 600 images of 4 x 4 pixels in 3 classes (brighter with the class), as IDX files
import struct, numpy as np
rng = np.random.default_rng(1)
y = rng.integers(0, 3, 600).astype(np.uint8)
x = (rng.random((600, 4, 4)) * 80 + y[:, None, None] * 60).astype(np.uint8)
open("img.idx", "wb").write(struct.pack(">BBBBIII", 0, 0, 8, 3, 600, 4, 4) + x.tobytes())
open("lab.idx", "wb").write(struct.pack(">BBBBI", 0, 0, 8, 1, 600) + y.tobytes())
PY
"$HPCTRAIN" convert --idx img.idx lab.idx --labelled-fraction 0.3 --out ss.h5 >/dev/null
small=(--model.d-model 16 --model.heads 2 --model.layers 2 --batch-size 32 --epochs 1)
agree() {  # NAME ARGS...: trains on cpu and cuda; the final training losses within 1%
  local name=$1; shift
  for dev in cpu cuda; do
    "$HPCTRAIN" train "$@" --device $dev --run-dir "$name-$dev" >"$name-$dev.log" 2>&1 ||
      die "$name on $dev failed: $(tail -5 "$name-$dev.log")"
  done
  check "abs(gpu - cpu) <= 0.01 * abs(cpu)" cpu="$(final_metric train_loss "$name-cpu.log")" \
    gpu="$(final_metric train_loss "$name-cuda.log")"
}
agree tabular --data.train phys.h5 --model.type transformer-tabular --model.pooling cls --model.dropout 0.1 \
  "${small[@]}"
agree tokens --data.train sum.h5 --model.type transformer --model.max-length 20 "${small[@]}"
agree lm --data.train text.h5 --model.type lm "${small[@]}"
agree lm-bf16 --data.train text.h5 --model.type lm "${small[@]}" --precision bf16
agree cnn1d --data.train maj.h5 --model.type cnn1d --model.channels 8 --model.layers 2 --model.dilations 1,2 \
  --epochs 1 --batch-size 32
agree ssvae --data.train ss.h5 --model.type ssvae --data.standardize false --model.widths 16 --epochs 1 --batch-size 32
finish
