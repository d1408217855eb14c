# The backend agreement suite (tests/unit/test_backend_agreement.cpp) with the CUDA backend among the
# candidates (HPCTRAIN_TEST_CUDA=1), held to the CPU reference under its relative tolerance; the
# convolutions a second time on the direct kernels (HPCTRAIN_CUDNN_CONV=0) that back cuDNN up.
source "$(dirname "$0")/../lib.sh"
"$GPU_PROBE" || exit 77
HPCTRAIN_TEST_CUDA=1 "$UNIT_TESTS" --test-case="backends agree*" --no-intro
HPCTRAIN_CUDNN_CONV=0 HPCTRAIN_TEST_CUDA=1 "$UNIT_TESTS" --test-case="*conv1d*" --no-intro
