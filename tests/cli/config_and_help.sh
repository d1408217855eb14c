# Options: --help per command, INI config sections mapping to dotted options, command line wins,
# resolved configuration printed and saved, and that saved file reproduces the run.
source "$(dirname "$0")/../lib.sh"

for cmd in train predict gen-data convert info; do
  "$HPCTRAIN" "$cmd" --help >help.txt
  grep -q "usage: hpctrain $cmd" help.txt || die "$cmd --help lacks usage"
  grep -q -- "--config" help.txt || die "$cmd --help lacks --config"
done
pass "--help for every command"
"$HPCTRAIN" --help | grep -q "gen-data" || die "top-level help lacks commands"

"$HPCTRAIN" gen-data --n 512 --out d.h5 >/dev/null
cat >run.ini <<'INI'
epochs = 2
batch-size = 64
[data]
train = d.h5
[model]
widths = 16,8
activation = tanh
[optim]
lr = 0.003
INI
"$HPCTRAIN" train --config run.ini --epochs 3 --run-dir r1 >r1.log
grep -q "^widths = 16,8" r1/config.ini || die "config.ini lacks the file's widths"
grep -q "^epochs = 3" r1/config.ini || die "command line did not override the file"
grep -q "^activation = tanh" r1.log || die "resolved configuration not printed"
grep -q "^\[model\]" r1/config.ini || die "config.ini has no [model] section"
[[ $(grep -c '^epoch ' r1.log) -eq 3 ]] || die "expected 3 progress lines"
[[ -s r1/metrics.csv && $(wc -l <r1/metrics.csv) -eq 4 ]] || die "metrics.csv should have a header and 3 rows"
head -1 r1/metrics.csv | grep -q "val_r2" || die "metrics.csv lacks val_r2"
pass "config file, override, resolved config saved, metrics.csv"

# The saved configuration reproduces the run exactly (same seed, same result).
sed -i 's|^run-dir = .*|run-dir = r2|' r1/config.ini
"$HPCTRAIN" train --config r1/config.ini >r2.log
[[ "$(final_metric train_loss r1.log)" == "$(final_metric train_loss r2.log)" ]] \
  || die "rerun from config.ini differs: $(grep final r1.log) vs $(grep final r2.log)"
pass "config.ini reproduces the run"

# A separate validation file instead of a held-out fraction; it must match the training data.
"$HPCTRAIN" gen-data --n 300 --seed 7 --out v.h5 >/dev/null
"$HPCTRAIN" train --data.train d.h5 --data.val v.h5 --epochs 1 --run-dir r3 >r3.log
grep -q "512 training rows, 300 validation rows" r3.log || die "--data.val not used: $(grep rows r3.log)"
"$HPCTRAIN" gen-data --kind two-gaussians --n 300 --out g.h5 >/dev/null
expect_fail "does not match" "$HPCTRAIN" train --data.train d.h5 --data.val g.h5 --run-dir r4
pass "separate validation file"

echo "[model]" >bad.ini && echo "colour = red" >>bad.ini
expect_fail "model.colour" "$HPCTRAIN" train --config bad.ini --data.train d.h5
echo "this is not ini" >worse.ini
expect_fail "worse.ini" "$HPCTRAIN" train --config worse.ini --data.train d.h5
expect_fail "nothere.ini" "$HPCTRAIN" train --config nothere.ini
finish
