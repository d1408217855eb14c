# The backend agreement suite (tests/unit/test_backend_agreement.cpp) with the CUDA backend among the
# candidates (HPCTRAIN_TEST_CUDA=1), held to the CPU reference under its relative tolerance.
source "$(dirname "$0")/../lib.sh"
"$GPU_PROBE" || exit 77
HPCTRAIN_TEST_CUDA=1 "$UNIT_TESTS" --test-case="backends agree*" --no-intro
