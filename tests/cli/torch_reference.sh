# hpctrain's MLP against PyTorch (Debian's python3-torch) on identical weights and batch: output,
# loss and gradients within 1e-5, weights after 5 AdamW / 5 SGD steps within 1e-4 (relative, per
# tensor). The reference is generated now by tests/reference/mlp_reference.py; nothing is pasted.
source "$(dirname "$0")/../lib.sh"
: "${CHECK_MLP_REFERENCE:?}"
ref="$HPCTRAIN_SOURCE/tests/reference/mlp_reference.py"
for variant in "mse gelu-exact" "mse gelu" "gaussian-nll gelu-exact" "bce tanh" "ce relu" "mse silu --layernorm"; do
  set -- $variant
  dir="ref-${1}-${2}${3:+-ln}"
  "$PYTHON" "$ref" "$dir" --loss "$1" --activation "$2" ${3:-} --seed 3 >/dev/null
  "$CHECK_MLP_REFERENCE" "$dir" >"$dir.log" || { cat "$dir.log"; die "mismatch with PyTorch: $variant"; }
  pass "$variant: $(tail -1 "$dir.log")"
done
finish
