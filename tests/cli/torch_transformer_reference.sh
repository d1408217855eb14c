# hpctrain's transformer block against PyTorch's nn.TransformerEncoderLayer(norm_first=True,
# batch_first=True) on identical weights and batch, with key padding (lengths 1 .. L) and causal masks:
# output, loss, input and parameter gradients, and the weights after 3 AdamW steps, each within 1e-4
# relative. Then whole 2-block models with their head and loss the same way: transformer-tabular (CLS and
# mean pooling, MSE), transformer on per-position features with padding (mean and position-0 pooling,
# per-row MSE), transformer on tokens with a per-token head (cross-entropy ignoring padding and
# unlabelled positions; bidirectional and causal) and the byte-level lm. The reference is generated now
# by tests/reference/transformer_reference.py; nothing is pasted.
source "$(dirname "$0")/../lib.sh"
: "${CHECK_TRANSFORMER_REFERENCE:?}"
ref="$HPCTRAIN_SOURCE/tests/reference/transformer_reference.py"
for variant in "gelu-exact" "relu --causal" "gelu --causal" "silu --no-padding"; do
  set -- $variant
  dir="ref-block-${1}${2:+-${2#--}}"
  "$PYTHON" "$ref" "$dir" --case block --activation "$@" --seed 5 >/dev/null
  "$CHECK_TRANSFORMER_REFERENCE" "$dir" >"$dir.log" || { cat "$dir.log"; die "mismatch with PyTorch: block $variant"; }
  pass "block $variant: $(tail -1 "$dir.log")"
done
for variant in "tabular --pooling cls" "tabular --pooling mean --activation relu" "features --pooling mean" \
  "features --pooling cls --activation gelu" "sequence" "sequence --causal" "lm"; do
  set -- $variant
  dir="ref-model-$(echo "$variant" | tr -d ' -')"
  "$PYTHON" "$ref" "$dir" --case "$@" --seed 7 >/dev/null
  "$CHECK_TRANSFORMER_REFERENCE" "$dir" >"$dir.log" || { cat "$dir.log"; die "mismatch with PyTorch: model $variant"; }
  pass "model $variant: $(tail -1 "$dir.log")"
done
finish
