# convert --fasta: protein sequences to per-residue features (onehot 21 / blosum62 20) with lengths,
# per-residue labels matched by record id (digit runs or separated numbers; classification, binary,
# regression), every bad input named, and a per-residue model trained on the result.
source "$(dirname "$0")/../lib.sh"

cat >s.fasta <<'FA'
>p1 first protein, wrapped
MKTAYIAKQR
qisfvkshfs
>p2
ACDEFGHIKLMNPQRSTVWYBXZJUO*
>p3
WWWW
FA
cat >l.txt <<'LB'
>p3
0110
>p1
0000011111
0000-11000
>p2
0 1 2 3 4 5 6 7 8 9 10 11 12 -1 0 0 0 0 0 0 0 0 0 0 0 0
LB
"$HPCTRAIN" convert --fasta s.fasta --labels l.txt --out o.h5 >o.log
"$HPCTRAIN" convert --fasta s.fasta --labels l.txt --encoding blosum62 --out b.h5 >b.log
"$HPCTRAIN" convert --fasta s.fasta --out in.h5 >in.log
"$PYTHON" - <<'PY' || die "the converted layout"
import h5py, numpy as np
o, b, i = h5py.File("o.h5"), h5py.File("b.h5"), h5py.File("in.h5")
assert o["X"].shape == (3, 26, 21) and b["X"].shape == (3, 26, 20), (o["X"].shape, b["X"].shape)
assert list(o["lengths"][:]) == [20, 26, 4]
order = "ARNDCQEGHILKMFPSTWYV"
x = o["X"][:]
assert (x.sum(axis=2)[0, :20] == 1).all() and (x[0, 20:] == 0).all()       # one-hot, padding zero
assert [order[k] for k in x[0, :10].argmax(axis=1)] == list("MKTAYIAKQR")
assert [order[k] for k in x[0, 10:20].argmax(axis=1)] == list("QISFVKSHFS")  # lower case read
assert list(x[1, 20:26].argmax(axis=1)) == [20, 20, 20, 20, 4, 11]           # B X Z J other, U as C, O as K
y = o["y"][:]
assert list(y[2, :4]) == [0, 1, 1, 0] and (y[2, 4:] == -1).all()              # matched by id, padding -1
assert list(y[0, :20]) == [0]*5 + [1]*5 + [0]*4 + [-1] + [1, 1] + [0]*3       # '-' = no label
assert list(y[1, 10:14]) == [10, 11, 12, -1]
assert o.attrs["num_classes"] == 13 and o.attrs["target_level"] == "token"
w = order.index("W")
assert b["X"][2, 0, w] == 11 and list(b["X"][0, 0, :5]) == [-1, -1, -2, -3, -1]  # BLOSUM62 W-W, M row
assert (b["X"][1, 21] == -1).all()                                               # X row
assert "y" not in i and i["X"].shape == (3, 26, 21)
PY
pass "onehot and blosum62 layouts, lengths, labels by id (digit runs, numbers, '-' and -1 unlabelled)"

# Regression and binary labels are float /y [N, L].
printf '>a\nMKV\n>b\nWW\n' >r.fasta
printf '>a\n0.5 -1.25 3\n>b\n1e-3 2\n' >r.txt
"$HPCTRAIN" convert --fasta r.fasta --labels r.txt --task regression --max-length 5 --out r.h5 >/dev/null
printf '>a\n011\n>b\n10\n' >bin.txt
"$HPCTRAIN" convert --fasta r.fasta --labels bin.txt --task binary --out bin.h5 >/dev/null
"$PYTHON" - <<'PY' || die "regression and binary labels"
import h5py, numpy as np
r = h5py.File("r.h5")
assert r["X"].shape == (2, 5, 21) and r.attrs["task"] == "regression"
assert r["y"].shape == (2, 5) and np.allclose(r["y"][0, :3], [0.5, -1.25, 3]) and np.allclose(r["y"][1, :2], [1e-3, 2])
assert h5py.File("bin.h5").attrs["task"] == "binary"
PY
pass "regression and binary per-residue labels, --max-length"

# Bad input: each error names the file, the record and the position where there is one.
printf '>p1\nMK\n>p1\nAA\n' >dup.fasta
printf '>p1\nMK1\n' >char.fasta
printf '>q\nMK\n' >one.fasta
printf '>r\n01\n' >other.txt
printf '>q\n011\n' >long.txt
printf '>q\n0x\n' >x.txt
printf '>q\n0 2\n' >two.txt
printf '>q\n0-\n' >dash.txt
printf 'MK\n' >nohead.fasta
: >empty.fasta
expect_fail "record 'p1' appears twice (lines 1 and 3)" "$HPCTRAIN" convert --fasta dup.fasta --out e.h5
expect_fail "record 'p1' position 2: '1' is no amino acid" "$HPCTRAIN" convert --fasta char.fasta --out e.h5
expect_fail "option --labels other.txt: no labels for record 'q' of one.fasta" "$HPCTRAIN" convert --fasta one.fasta --labels other.txt --out e.h5
expect_fail "record 'q' has 3 labels for 2 residues" "$HPCTRAIN" convert --fasta one.fasta --labels long.txt --out e.h5
expect_fail "record 'q' label 1: 'x' is not a digit" "$HPCTRAIN" convert --fasta one.fasta --labels x.txt --out e.h5
expect_fail "binary labels are 0 or 1, got 2" "$HPCTRAIN" convert --fasta one.fasta --labels two.txt --task binary --out e.h5
expect_fail "'-' (no label) needs task classification" "$HPCTRAIN" convert --fasta one.fasta --labels dash.txt --task regression --out e.h5
expect_fail "line 1: text before the first '>' header" "$HPCTRAIN" convert --fasta nohead.fasta --out e.h5
expect_fail "option --fasta empty.fasta: no records" "$HPCTRAIN" convert --fasta empty.fasta --out e.h5
expect_fail "option --encoding: unknown encoding 'esm'" "$HPCTRAIN" convert --fasta one.fasta --encoding esm --out e.h5
expect_fail "has 2 residues, more than option --max-length 1" "$HPCTRAIN" convert --fasta one.fasta --max-length 1 --out e.h5
printf '>q\n01\n>extra\n0\n' >extra.txt
expect_fail "record 'extra' (line 3) has no sequence in one.fasta" "$HPCTRAIN" convert --fasta one.fasta --labels extra.txt --out e.h5
[[ ! -e e.h5 ]] || die "a failed conversion left e.h5"
pass "no output file after a failed conversion"

# A per-residue task a model can learn: the label marks hydrophobic residues (AILMFWV) inside a
# window of +-1 around them (a label depends on its neighbours). A small per-token transformer on
# one-hot features learns it.
"$PYTHON" - <<'PY'
import random
random.seed(3)
aa, hyd = "ACDEFGHIKLMNPQRSTVWY", set("AILMFWV")
with open("train.fasta", "w") as f, open("train.txt", "w") as g:
    for i in range(400):
        s = "".join(random.choice(aa) for _ in range(random.randint(12, 24)))
        lab = "".join("1" if any(s[j] in hyd for j in range(max(0, k - 1), min(len(s), k + 2))) else "0" for k in range(len(s)))
        f.write(f">s{i}\n{s}\n"); g.write(f">s{i}\n{lab}\n")
PY
"$HPCTRAIN" convert --fasta train.fasta --labels train.txt --out train.h5 >/dev/null
"$HPCTRAIN" train --data.train train.h5 --model.type transformer --model.d-model 32 --model.heads 4 --model.layers 2 \
  --epochs 30 --batch-size 16 --optim.lr 3e-3 --run-dir fasta_run >train.log
# The majority class alone scores about 0.7; measured 0.999 after 30 epochs.
check "accuracy > 0.97" accuracy="$(final_metric accuracy train.log)"
finish
