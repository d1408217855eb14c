# scripts/gpu-check on a machine without a GPU (on the build under test, GPU_CHECK_NO_BUILD=1): it
# describes the machine, then stops where it needs a GPU, says so and exits 77. Skipped where a GPU is
# usable (there gpu-check runs whole: scripts/gpu-check itself).
source "$(dirname "$0")/../lib.sh"
if "$GPU_PROBE" >probe.log; then echo "skipped: a GPU is usable (this test is for machines without one)"; exit 77; fi
build=$(dirname "$HPCTRAIN")
rc=0
GPU_CHECK_NO_BUILD=1 BUILD_DIR="$build" "$HPCTRAIN_SOURCE/scripts/gpu-check" out >gc.log 2>&1 || rc=$?
[[ $rc -eq 77 ]] || die "gpu-check exited $rc, not 77: $(cat gc.log)"
grep -q '^gpu-check: stopping here: the remaining checks need a GPU' out/summary.txt || die "no stop message: $(cat gc.log)"
grep -q '^gpu-check: GPUs: no GPU visible (' out/summary.txt || die "does not say no GPU: $(cat out/summary.txt)"
grep -q '^OpenBLAS: ' out/system.txt || die "no system description: $(cat out/system.txt)"
grep -q '^gpu-check: cuDNN SDPA: ' out/summary.txt || die "does not say whether cuDNN SDPA is built: $(cat out/summary.txt)"
pass "gpu-check without a GPU: $(grep stopping out/summary.txt)"
finish
