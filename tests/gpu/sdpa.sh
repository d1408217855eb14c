# cuDNN's fused attention (kernels/cuda/cuda_sdpa.cpp) against our attention kernels, which back it up:
#  1. the kernels: forward and backward in bf16 and f16 with key padding and causality, within a few
#     units of the 16-bit rounding, masked keys' gradients exactly zero, and the saved state cuDNN's
#     statistics (so SDPA really ran) (tests/unit/test_cuda_sdpa.cpp);
#  2. the attention agreement cases once more on our kernels alone (HPCTRAIN_CUDNN_SDPA=0): the fallback
#     stays held to the CPU reference;
#  3. a byte-level LM trained in bf16 through SDPA reaches the training loss of the same run on our
#     kernels within 1%, with no warning that cuDNN could not run it.
# Without a GPU, or in a build without the cuDNN frontend headers: skipped.
source "$(dirname "$0")/../lib.sh"
"$GPU_PROBE" || exit 77
if ! "$HPCTRAIN" info --system | grep -q "^cuDNN SDPA: frontend"; then
  echo "skip: $("$HPCTRAIN" info --system | grep '^cuDNN SDPA') (scripts/install-deps fetches the headers)"
  exit 77
fi
HPCTRAIN_TEST_CUDA=1 "$UNIT_TESTS" --test-case="cuda attention:*" --no-intro || die "SDPA against our kernels"
pass "cuDNN SDPA = our kernels in bf16 and f16 (padding, causal)"
HPCTRAIN_CUDNN_SDPA=0 HPCTRAIN_TEST_CUDA=1 "$UNIT_TESTS" --test-case="backends agree: attention*" --no-intro ||
  die "our attention kernels (HPCTRAIN_CUDNN_SDPA=0) against the CPU"
pass "our attention kernels (HPCTRAIN_CUDNN_SDPA=0) = cpu"

head -c 20000 "$HPCTRAIN_SOURCE/tests/data/lm-text.txt" >text.txt
"$HPCTRAIN" convert --text text.txt --seq-len 64 --out text.h5 >/dev/null
lm=(--data.train text.h5 --model.type lm --model.d-model 64 --model.heads 2 --model.layers 2 --batch-size 32
    --epochs 1 --precision bf16 --device cuda)
"$HPCTRAIN" train "${lm[@]}" --run-dir sdpa >sdpa.log 2>&1 || die "lm bf16 (SDPA) failed: $(tail -5 sdpa.log)"
HPCTRAIN_CUDNN_SDPA=0 "$HPCTRAIN" train "${lm[@]}" --run-dir ours >ours.log 2>&1 ||
  die "lm bf16 (HPCTRAIN_CUDNN_SDPA=0) failed: $(tail -5 ours.log)"
! grep -q "cuDNN SDPA cannot run" sdpa.log || die "SDPA did not run the lm: $(grep 'cuDNN SDPA' sdpa.log)"
check "abs(sdpa - ours) <= 0.01 * abs(ours)" sdpa="$(final_metric train_loss sdpa.log)" \
  ours="$(final_metric train_loss ours.log)"
finish
