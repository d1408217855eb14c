# The GPU options on any machine: --precision.tf32 is listed, parsed on every device (a bad value fails
# naming it, also without a GPU) and changes nothing on the CPU (TF32 is a cuBLASLt compute type), so a
# CPU run with it gives the same weights as one without.
source "$(dirname "$0")/../lib.sh"
for cmd in train predict; do
  "$HPCTRAIN" "$cmd" --help >"help-$cmd.txt"
  grep -q -- '--precision.tf32' "help-$cmd.txt" || die "$cmd --help does not list --precision.tf32"
done
pass "train and predict list --precision.tf32"
"$HPCTRAIN" gen-data --kind heteroscedastic --n 512 --out d.h5 >/dev/null
expect_fail "option --precision.tf32: 'maybe' is not a boolean" \
  "$HPCTRAIN" train --device cpu --data.train d.h5 --epochs 1 --precision.tf32 maybe --run-dir bad
common=(--device cpu --data.train d.h5 --epochs 2 --threads 1 --model.widths 16,16)
"$HPCTRAIN" train "${common[@]}" --run-dir off >off.log || die "train failed: $(tail -3 off.log)"
"$HPCTRAIN" train "${common[@]}" --precision.tf32 --run-dir on >on.log || die "train --precision.tf32 failed: $(tail -3 on.log)"
"$PYTHON" - off/model.h5 on/model.h5 <<'PY' || die "--precision.tf32 changed a CPU run"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
sys.exit(0 if list(a) == list(b) and all(np.array_equal(a[k][:], b[k][:]) for k in a) else 1)
PY
pass "--precision.tf32 leaves a CPU run unchanged, bit for bit"
finish
