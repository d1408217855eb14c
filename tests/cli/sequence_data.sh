# Sequence data from the command line: gen-data's sequence kinds, convert --text, info, streaming of
# per-position features, and the errors for bad sequence input (token ids, lengths, empty or missing
# text files).
source "$(dirname "$0")/../lib.sh"

"$HPCTRAIN" gen-data --kind seq-window --n 200 --out window.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-window --n 50 --seq-len 16 --encoding onehot --out onehot.h5 >/dev/null
"$HPCTRAIN" gen-data --kind seq-sum --n 50 --vocab 8 --out sum.h5 >/dev/null
"$HPCTRAIN" info window.h5 >info.log
grep -q "sequences of L = 64 positions of tokens (vocab_size 20)" info.log || die "info window.h5: $(cat info.log)"
grep -q "target level token" info.log && grep -q "lengths min 16" info.log || die "info window.h5: $(cat info.log)"
"$HPCTRAIN" info onehot.h5 | grep -q "L = 16 positions of 20 features" || die "info onehot.h5"
"$HPCTRAIN" info sum.h5 | grep -q "vocab_size 8).*target level sequence" || die "info sum.h5"
pass "gen-data seq-window (tokens, onehot), seq-sum; info shows L, vocab, lengths, target level"

# The layout as h5py sees it, and the seq-window rule recomputed in numpy.
"$PYTHON" - <<'PY' || die "layout check failed"
import h5py, numpy as np
with h5py.File("window.h5") as f:
    t, n, y = f["tokens"][()], f["lengths"][()], f["y"][()]
    assert t.shape == (200, 64) and n.shape == (200,) and y.shape == (200, 64), (t.shape, y.shape)
    assert f.attrs["vocab_size"] == 20 and f.attrs["target_level"] == "token" and f.attrs["num_classes"] == 3
    for r in range(200):
        L = n[r]; s = np.concatenate([[0], t[r, :L], [0]]).astype(int)
        assert (y[r, :L] == (s[:-2] + 2 * s[1:-1] + s[2:]) % 3).all()
        assert (y[r, L:] == -1).all() and (t[r, L:] == 0).all()
with h5py.File("onehot.h5") as f:
    assert f["X"].shape == (50, 16, 20) and "tokens" not in f
PY
pass "seq-window layout and rule (h5py)"

# convert --text: any file, reproduced by its tokens and the last label.
cp "$HPCTRAIN_SOURCE/README.md" text.txt
"$HPCTRAIN" convert --text text.txt --seq-len 32 --out text.h5 >/dev/null
"$HPCTRAIN" info text.h5 | grep -q "L = 32 positions of tokens (vocab_size 256).*256 classes.*target level token" \
  || die "info text.h5: $("$HPCTRAIN" info text.h5)"
"$PYTHON" - <<'PY' || die "text round trip failed"
import h5py, numpy as np
raw = open("text.txt", "rb").read()
with h5py.File("text.h5") as f:
    t, n, y = f["tokens"][()], f["lengths"][()], f["y"][()]
got = bytes(np.concatenate([t[r, :n[r]] for r in range(len(n))]).astype(np.uint8)) + bytes([y[-1, n[-1] - 1]])
assert got == raw, "bytes differ"
assert (y[0, :31] == t[0, 1:]).all()
PY
pass "convert --text reproduces the file's bytes"

: >empty.txt
expect_fail "empty.txt: is empty" "$HPCTRAIN" convert --text empty.txt --out empty.h5
expect_fail "missing.txt" "$HPCTRAIN" convert --text missing.txt --out missing.h5
expect_fail "seq-len" "$HPCTRAIN" convert --text text.txt --seq-len 1 --out short.h5
expect_fail "one input" "$HPCTRAIN" convert --text text.txt --csv x.csv --out both.h5
expect_fail "encoding" "$HPCTRAIN" gen-data --kind seq-window --encoding bytes --out enc.h5
expect_fail "seq-len" "$HPCTRAIN" gen-data --kind seq-sum --seq-len 1 --out one.h5
[[ ! -e empty.h5 && ! -e missing.h5 && ! -e short.h5 && ! -e enc.h5 && ! -e one.h5 ]] || die "a failed command left a file"
pass "failed conversions leave no file"

# Bad sequence files: each error names the file, dataset, row, position and value.
"$PYTHON" - <<'PY'
import h5py, numpy as np
def write(name, tokens, lengths=None, **attrs):
    with h5py.File(name, "w") as f:
        f["tokens"] = tokens; f["y"] = np.zeros(len(tokens), np.float32)
        if lengths is not None: f["lengths"] = lengths
        f.attrs["vocab_size"] = 20
t = np.arange(40, dtype=np.int32).reshape(4, 10) % 20
bad = t.copy(); bad[2, 5] = 23; write("token.h5", bad)
write("length.h5", t, np.array([10, 3, 11, 4], np.int32))
write("rows.h5", t, np.array([10, 3, 4], np.int32))
PY
expect_fail "token.h5: /tokens row 2 position 5 is token id 23, outside the vocabulary [0, 20)" "$HPCTRAIN" info token.h5
expect_fail "length.h5: /lengths row 2 is 11; lengths must be in [1, 10]" "$HPCTRAIN" info length.h5
expect_fail "rows.h5: /lengths has 3 rows but /tokens has 4" "$HPCTRAIN" info rows.h5
expect_fail "data.stream: window.h5 holds token ids /tokens, which are loaded whole" \
  "$HPCTRAIN" train --data.train window.h5 --data.stream --run-dir run

# Per-position features /X [N, L, F] streamed batch by batch (--data.stream, 2 loader workers) train
# to the weights of the in-memory run; the file's padding holds NaN, which neither path reads, and a
# NaN at a valid position is an error naming row, position and column in both.
"$HPCTRAIN" gen-data --kind seq-sum --n 300 --seq-len 12 --encoding onehot --out feat.h5 >/dev/null
"$PYTHON" - <<'PY'
import h5py, numpy as np, shutil
shutil.copy("feat.h5", "badfeat.h5")
with h5py.File("feat.h5", "r+") as f:
    x, n = f["X"][()], f["lengths"][()]
    assert n.min() < 12
    for r in range(len(n)):
        x[r, n[r]:] = np.nan  # padding
    f["X"][...] = x
r = int(np.argmax(n < 12))
with h5py.File("badfeat.h5", "r+") as f:
    x = f["X"][()]; x[r, 1, 3] = np.nan; f["X"][...] = x
open("badrow.txt", "w").write(str(r))
PY
seq=(--model.type transformer --model.d-model 16 --model.heads 2 --model.layers 1 --epochs 2 --batch-size 32 --threads 1)
"$HPCTRAIN" train --data.train feat.h5 "${seq[@]}" --run-dir mem >mem.log || die "in-memory: $(cat mem.log)"
"$HPCTRAIN" train --data.train feat.h5 "${seq[@]}" --data.stream --data.workers 2 --run-dir streamed >streamed.log \
  || die "streamed: $(cat streamed.log)"
grep -q "(streamed)" streamed.log || die "not streamed: $(cat streamed.log)"
msg=$(same_weights mem streamed) || die "streamed sequence training differs: $msg"
pass "per-position features streamed (NaN padding unread) reach the in-memory weights: $msg"
bad="badfeat.h5: /X row $(cat badrow.txt) position 1 column 3 is NaN"
expect_fail "$bad" "$HPCTRAIN" train --data.train badfeat.h5 "${seq[@]}" --run-dir bad
expect_fail "$bad" "$HPCTRAIN" train --data.train badfeat.h5 "${seq[@]}" --data.stream --run-dir bad
expect_fail "model.type mlp" "$HPCTRAIN" train --data.train window.h5 --run-dir run
finish
