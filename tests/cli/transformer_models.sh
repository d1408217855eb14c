# The transformer model types from the command line: train each (tiny, one epoch), the checkpoint's
# /model attributes, info, predict (per-token outputs [N, L, ...]), lm sampling (reproducible by seed),
# and the bad-input errors: sequences longer than the maximum length, d_model not divisible by heads,
# model types that do not fit the data, token ids outside a checkpoint's vocabulary, --prompt misuse.
source "$(dirname "$0")/../lib.sh"

"$HPCTRAIN" gen-data --kind physics19 --n 512 --out phys.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-window --n 256 --seq-len 16 --vocab 8 --out win8.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-window --n 64 --seq-len 16 --vocab 20 --out win20.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-window --n 128 --seq-len 12 --encoding onehot --out onehot.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-sum --n 256 --seq-len 16 --out sum.h5 >/dev/null
cp "$HPCTRAIN_SOURCE/README.md" text.txt
"$HPCTRAIN" convert --text text.txt --seq-len 32 --out text.h5 >/dev/null

small=(--epochs 1 --batch-size 32 --model.d-model 16 --model.heads 2 --model.layers 1 --quiet)
"$HPCTRAIN" train --data.train phys.h5 --model.type transformer-tabular --model.pooling cls "${small[@]}" --run-dir tab >tab.log
"$HPCTRAIN" train --data.train win8.h5 --model.type transformer "${small[@]}" --run-dir win >win.log
"$HPCTRAIN" train --data.train onehot.h5 --model.type transformer "${small[@]}" --run-dir onehot >onehot.log
"$HPCTRAIN" train --data.train sum.h5 --model.type transformer --model.max-length 20 "${small[@]}" --run-dir sum >sum.log
"$HPCTRAIN" train --data.train text.h5 --model.type lm "${small[@]}" --run-dir lm >lm.log
grep -q "r2=" tab.log && grep -q "accuracy=" win.log && grep -q "accuracy=" onehot.log && grep -q "r2=" sum.log \
  || die "missing metrics: $(cat tab.log win.log onehot.log sum.log)"
grep -q "accuracy=.*perplexity=.*bits_per_byte=" lm.log || die "lm metrics: $(cat lm.log)"
head -1 lm/metrics.csv | grep -q "val_accuracy,val_perplexity,val_bits_per_byte" || die "lm metrics.csv: $(head -1 lm/metrics.csv)"
pass "train transformer-tabular, transformer (tokens, one-hot features, pooled), lm"

"$PYTHON" - <<'PY' || die "checkpoint attributes"
import h5py
def attrs(p):
    with h5py.File(p) as f:
        return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["model"].attrs.items()}
a = attrs("tab/model.h5")
assert a["type"] == "transformer-tabular" and a["d_model"] == 16 and a["heads"] == 2 and a["layers"] == 1, a
assert a["pooling"] == "cls" and a["activation"] == "gelu-exact" and a["in_features"] == 19 and a["out_features"] == 2, a
w = attrs("win/model.h5")
assert w["type"] == "transformer" and w["vocab_size"] == 8 and w["max_length"] == 16 and w["target_level"] == "token", w
assert w["causal"] == 0 and w["out_features"] == 3, w
assert attrs("sum/model.h5")["max_length"] == 20
l = attrs("lm/model.h5")
assert l["type"] == "lm" and l["causal"] == 1 and l["vocab_size"] == 256 and l["out_features"] == 256, l
with h5py.File("lm/model.h5") as f:
    names = list(f["params"])
    assert "embed.weight" in names and "pos.weight" in names and "head.weight" in names, names
    assert f["params/pos.weight"].shape == (32, 16), f["params/pos.weight"].shape
PY
"$HPCTRAIN" info lm/model.h5 | grep -q "model lm: vocab_size 256, d_model 16, heads 2, layers 1.*per-token head, causal" \
  || die "info: $("$HPCTRAIN" info lm/model.h5)"
pass "checkpoint /model attributes and info"

"$HPCTRAIN" predict --checkpoint win/model.h5 --data win8.h5 --out win_pred.h5 >pred.log
grep -q "256 predictions (per token).*accuracy=" pred.log || die "predict: $(cat pred.log)"
"$HPCTRAIN" predict --checkpoint tab/model.h5 --data phys.h5 --out tab_pred.h5 | grep -q "r2=" || die "predict tabular"
"$PYTHON" - <<'PY' || die "prediction layout"
import h5py, numpy as np
with h5py.File("win_pred.h5") as f, h5py.File("win8.h5") as d:
    assert f["prob"].shape == (256, 16, 3) and f["label"].shape == (256, 16), (f["prob"].shape, f["label"].shape)
    assert np.allclose(f["prob"][()].sum(-1), 1, atol=1e-5)
    y, lab = d["y"][()], f["label"][()]
    valid = y >= 0
    print("per-token accuracy after one epoch %.3f" % (lab[valid] == y[valid]).mean())
with h5py.File("tab_pred.h5") as f:
    assert f["mean"].shape == (512, 2)
PY
pass "predict: per-token /prob [N, L, C] and /label [N, L]; tabular /mean [N, T]"

"$HPCTRAIN" predict --checkpoint lm/model.h5 --prompt "hpctrain " --generate 40 --seed 3 >gen1.txt
"$HPCTRAIN" predict --checkpoint lm/model.h5 --prompt "hpctrain " --generate 40 --seed 3 >gen2.txt
"$HPCTRAIN" predict --checkpoint lm/model.h5 --prompt "hpctrain " --generate 40 --seed 4 --top-k 5 >gen3.txt
cmp -s gen1.txt gen2.txt || die "same seed, different text"
head -c 9 gen1.txt | grep -q "^hpctrain " || die "the prompt is not printed first: $(cat gen1.txt)"
"$PYTHON" -c "import sys; n = len(open('gen1.txt', 'rb').read()); sys.exit(0 if n == 9 + 40 + 1 else 1)" \
  || die "expected prompt + 40 bytes + newline: $(wc -c <gen1.txt)"
"$PYTHON" -c "import sys; n = len(open('gen3.txt', 'rb').read()); sys.exit(0 if n == 9 + 40 + 1 else 1)" \
  || die "top-k: expected prompt + 40 bytes + newline: $(wc -c <gen3.txt)"
head -c 9 gen3.txt | grep -q "^hpctrain " || die "top-k: the prompt is not printed first: $(cat gen3.txt)"
# A prompt longer than max_length (32) slides the window.
"$HPCTRAIN" predict --checkpoint lm/model.h5 --prompt "$(head -c 100 text.txt | tr -d '\0')" --generate 5 --temperature 0 >/dev/null
pass "lm sampling: prompt + continuation, reproducible by seed, top-k, greedy, long prompts"

train() { "$HPCTRAIN" train --run-dir bad --epochs 1 "$@"; }
expect_fail "win8.h5: sequences of L = 16 positions are longer than the model's maximum length 8" \
  train --data.train win8.h5 --model.type transformer --model.max-length 8
expect_fail "option model.d-model: 10 is not divisible by option model.heads 3" \
  train --data.train phys.h5 --model.type transformer-tabular --model.d-model 10 --model.heads 3
expect_fail "phys.h5: holds tabular /X [N, F] but option model.type lm takes byte tokens" \
  train --data.train phys.h5 --model.type lm
expect_fail "phys.h5: holds tabular /X [N, F] but option model.type transformer takes sequences" \
  train --data.train phys.h5 --model.type transformer
expect_fail "win8.h5: holds sequences /tokens [N, L] (vocab_size 8) but option model.type transformer-tabular takes tabular" \
  train --data.train win8.h5 --model.type transformer-tabular
expect_fail "sum.h5: /y holds per-row targets but option model.type lm" train --data.train sum.h5 --model.type lm
expect_fail "option model.pooling: unknown pooling 'max'" train --data.train phys.h5 --model.type transformer-tabular --model.pooling max
expect_fail "option model.causal: applies to model.type transformer (lm always is causal), not transformer-tabular" \
  train --data.train phys.h5 --model.type transformer-tabular --model.causal
expect_fail "option model.pooling cls with model.causal: position 0 attends only to itself" \
  train --data.train sum.h5 --model.type transformer --model.causal --model.pooling cls
expect_fail "option model.type: unknown model type 'rnn'" train --data.train phys.h5 --model.type rnn
expect_fail "option model.heads: must be positive, got 0" train --data.train phys.h5 --model.type transformer-tabular --model.heads 0
[[ ! -e bad/model.h5 ]] || die "a failed run left a checkpoint"
expect_fail "win20.h5: /tokens row 0 position" "$HPCTRAIN" predict --checkpoint win/model.h5 --data win20.h5 --out p.h5
grep -q "outside the vocabulary \[0, 8) of model transformer of win/model.h5" err.log || die "vocab error: $(cat err.log)"
expect_fail "win20.h5: /tokens row 0 position" train --data.train win20.h5 --model.type transformer --init win/model.h5
expect_fail "win8.h5: holds sequences /tokens [N, L] (vocab_size 8) but model transformer-tabular of tab/model.h5" \
  "$HPCTRAIN" predict --checkpoint tab/model.h5 --data win8.h5 --out p.h5
"$HPCTRAIN" gen-data --kind seq-window --n 16 --seq-len 24 --vocab 8 --out long.h5 >/dev/null
expect_fail "long.h5: sequences of L = 24 positions are longer than the model's maximum length 16" \
  "$HPCTRAIN" predict --checkpoint win/model.h5 --data long.h5 --out p.h5
expect_fail "option --prompt: needs an lm checkpoint, but win/model.h5 holds model transformer" \
  "$HPCTRAIN" predict --checkpoint win/model.h5 --prompt "abc"
expect_fail "option --temperature: must be >= 0" "$HPCTRAIN" predict --checkpoint lm/model.h5 --prompt "abc" --temperature -1
[[ ! -e p.h5 ]] || die "a failed predict left a file"
pass "bad input: no checkpoint or prediction file left"
finish
