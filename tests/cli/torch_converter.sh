# scripts/hpctrain_torch.py: state_dict <-> checkpoint conversion, and a checkpoint written by the C++
# trainer read back in PyTorch giving the same predictions as `hpctrain predict`.
source "$(dirname "$0")/../lib.sh"
"$PYTHON" "$HPCTRAIN_SOURCE/tests/reference/test_converter.py"
pass "converter unit tests"
finish
