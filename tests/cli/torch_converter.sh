# scripts/hpctrain_torch.py: state_dict <-> checkpoint conversion (tests/reference/test_converter.py),
# and checkpoints written by the C++ trainer, converted with to-torch and run in PyTorch, giving the
# predictions of `hpctrain predict` (tests/reference/compare_predict.py, within 1e-4 relative):
# transformer-tabular (regression with CLS, binary classification with mean pooling), a transformer
# on tokens with a per-token head and padding, one on per-position features with mean pooling, and
# the lm, and the per-residue cnn1d and unet1d on padded one-hot sequences (nn.Conv1d and
# nn.ConvTranspose1d with masked inputs; the mlp:
# cli.predict_and_interop).
source "$(dirname "$0")/../lib.sh"
"$PYTHON" "$HPCTRAIN_SOURCE/tests/reference/test_converter.py"
pass "converter unit tests"

convert="$HPCTRAIN_SOURCE/scripts/hpctrain_torch.py"
compare="$HPCTRAIN_SOURCE/tests/reference/compare_predict.py"
"$HPCTRAIN" gen-data --kind physics19 --n 300 --out phys.h5 >/dev/null
"$HPCTRAIN" gen-data --kind two-gaussians --n 300 --out gauss.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-window --n 200 --seq-len 12 --out win.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-sum --n 200 --seq-len 12 --encoding onehot --out sum.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-majority --n 200 --seq-len 20 --encoding onehot --out maj.h5 >/dev/null
head -c 4000 "$HPCTRAIN_SOURCE/README.md" >text.txt
"$HPCTRAIN" convert --text text.txt --seq-len 24 --out text.h5 >/dev/null
small=(--model.d-model 16 --model.heads 2 --model.layers 2 --model.mlp-ratio 2 --epochs 2 --batch-size 32 --threads 1)
while read -r name data options; do
  "$HPCTRAIN" train --data.train "$data" $options --run-dir "$name" --quiet >"$name.log" || die "$name: $(cat "$name.log")"
  "$PYTHON" "$convert" to-torch "$name/model.h5" "$name.pt" >/dev/null || die "$name: to-torch failed"
  "$HPCTRAIN" predict --checkpoint "$name/model.h5" --data "$data" --out "$name.pred.h5" >/dev/null \
    || die "$name: predict failed"
  msg=$("$PYTHON" "$compare" "$name.pt" "$data" "$name.pred.h5") || die "$name: PyTorch differs from predict: $msg"
  pass "$name: $msg"
done <<LIST
tabular phys.h5 --model.type transformer-tabular --model.pooling cls ${small[*]}
tabular-bce gauss.h5 --model.type transformer-tabular ${small[*]}
tokens win.h5 --model.type transformer ${small[*]}
features sum.h5 --model.type transformer --model.pooling mean --model.activation gelu-exact ${small[*]}
lm text.h5 --model.type lm ${small[*]}
cnn1d maj.h5 --model.type cnn1d --model.channels 8 --model.kernel-size 3 --model.layers 3 --model.dilations 1,2 --epochs 2 --batch-size 32 --threads 1
unet1d maj.h5 --model.type unet1d --model.channels 8 --model.kernel-size 3 --model.layers 3 --epochs 2 --batch-size 32 --threads 1
LIST
finish
