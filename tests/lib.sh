# Helpers for the script tests in tests/cli. ctest sets HPCTRAIN (the binary), HPCTRAIN_SOURCE,
# PYTHON (with torch, h5py, numpy) and SCRATCH (a directory of this test's own).
set -euo pipefail
: "${HPCTRAIN:?run through ctest}" "${SCRATCH:?run through ctest}"
rm -rf "$SCRATCH" && mkdir -p "$SCRATCH" && cd "$SCRATCH"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
checks=0

die() { echo "FAIL: $*" >&2; exit 1; }
pass() { checks=$((checks + 1)); echo "ok - $*"; }

# expect_fail SUBSTRING CMD...: CMD must exit non-zero and print SUBSTRING on stderr.
expect_fail() {
  local want=$1; shift
  local rc=0
  "$@" >out.log 2>err.log || rc=$?
  [[ $rc -ne 0 ]] || die "expected failure of: $* (stdout: $(cat out.log))"
  grep -qF -- "$want" err.log || die "error of '$*' lacks '$want'; it said: $(cat err.log)"
  [[ $(wc -l <err.log) -le 2 ]] || die "error of '$*' is not short: $(cat err.log)"
  pass "fails with '$want': ${*:2}"
}

# final_metric NAME FILE: the value of NAME=... on the 'final:' line of a train log.
final_metric() {
  grep '^final:' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# check PYTHON-EXPR: a boolean expression over the variables given as NAME=VALUE arguments.
check() {
  local expr=$1; shift
  "$PYTHON" -c "import sys; v = dict(a.split('=', 1) for a in sys.argv[1:]); globals().update({k: float(x) for k, x in v.items()}); sys.exit(0 if ($expr) else 1)" "$@" \
    || die "not true: $expr with $*"
  pass "$expr ($*)"
}

# same_weights RUN_A RUN_B [TOL]: every tensor of RUN_A/model.h5 and RUN_B/model.h5 within TOL (default
# 1e-4) relative; prints the worst difference. The key third of each in_proj_bias is left out:
# it adds q . b_k to every score of a row, which the softmax cancels, so its gradient is rounding noise
# (~1e-9) that AdamW turns into steps of about lr in either direction, and its value changes nothing
# (tests/reference/check_transformer_reference.cpp checks that gradient is ~0 against PyTorch).
same_weights() {
  "$PYTHON" - "$1/model.h5" "$2/model.h5" "${3:-1e-4}" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
assert list(a) == list(b)
def value(t, k):
    t = t[k][:].copy()
    if k.endswith("in_proj_bias"):
        t[len(t) // 3: 2 * len(t) // 3] = 0
    return t
worst = max(np.linalg.norm(value(a, k) - value(b, k)) / np.linalg.norm(value(a, k)) for k in a)
print(f"worst relative weight difference {worst:.2e}")
sys.exit(0 if worst < float(sys.argv[3]) else 1)
PY
}

# same_bits RUN_A RUN_B: the parameters of both model.h5 files are the same bytes.
same_bits() {
  "$PYTHON" - "$1/model.h5" "$2/model.h5" <<'PY'
import sys, h5py
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
assert list(a) == list(b)
bad = [k for k in a if a[k][:].tobytes() != b[k][:].tobytes()]
sys.exit(f"parameters differ: {bad}" if bad else 0)
PY
}

finish() { echo "$checks passed, 0 failed"; }
