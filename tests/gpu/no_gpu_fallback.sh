# Without a usable GPU: --device cuda fails with a short message naming the CUDA error (or the missing
# backend), and --device auto falls back to the CPU and says so. Skipped where a GPU is usable.
source "$(dirname "$0")/../lib.sh"
if "$GPU_PROBE" >probe.log; then echo "skipped: a GPU is usable (this test is for machines without one)"; exit 77; fi
"$HPCTRAIN" gen-data --kind heteroscedastic --n 512 --out d.h5 >/dev/null
expect_fail "--device cuda: " "$HPCTRAIN" train --device cuda --data.train d.h5 --epochs 1 --run-dir r-cuda
grep -qE "cudaGetDeviceCount|no CUDA driver|without the CUDA backend" err.log || die "no CUDA reason in: $(cat err.log)"
pass "the message names the reason: $(cat err.log)"
env -u HPCTRAIN_DEVICE "$HPCTRAIN" train --device auto --data.train d.h5 --epochs 1 --run-dir r-auto >auto.log 2>&1 ||
  die "--device auto did not fall back: $(tail -3 auto.log)"
grep -q "device auto: cpu (no usable GPU" auto.log || die "--device auto does not say it fell back: $(head -5 auto.log)"
grep -q "backend cpu" auto.log || die "--device auto did not pick cpu: $(head -5 auto.log)"
pass "--device auto falls back to cpu and says why"
finish
