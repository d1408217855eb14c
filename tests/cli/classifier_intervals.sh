# Intervals on a binary classifier ensemble's probability (two-gaussians, which knows p_optimal):
# logit-scale intervals and their coverage of p_optimal recomputed by hand from the members' own
# predictions; --ensemble.bootstrap reproducible per seed and different from plain training; the
# inflation factor fitted on calibration labels is the likelihood's maximum (checked on a grid);
# bootstrap pairs share their rows and their k is the ANOVA's, recomputed in numpy; the bagged
# centre's per-row variance and Student t intervals, recomputed in numpy.
source "$(dirname "$0")/../lib.sh"

"$HPCTRAIN" gen-data --kind two-gaussians --n 600 --seed 11 --out g.h5 >/dev/null
"$HPCTRAIN" gen-data --kind two-gaussians --n 400 --seed 12 --out cal.h5 >/dev/null
"$HPCTRAIN" gen-data --kind two-gaussians --n 500 --seed 13 --out t.h5 >/dev/null
small=(--data.train g.h5 --epochs 3 --batch-size 64 --model.widths 8 --threads 1 --quiet)
common=("${small[@]}" --ensemble.members 3)
"$HPCTRAIN" train "${common[@]}" --ensemble.bootstrap --seed 5 --run-dir b1 >/dev/null || die "bootstrap ensemble failed"
"$HPCTRAIN" train "${common[@]}" --ensemble.bootstrap --seed 5 --run-dir b2 >/dev/null || die "bootstrap ensemble failed"
"$HPCTRAIN" train "${common[@]}" --seed 5 --run-dir plain >/dev/null || die "plain ensemble failed"
"$PYTHON" - <<'PY' || die "bootstrap is not reproducible, or changes nothing"
import h5py, numpy as np
def weights(run, m):
    out = []
    h5py.File(f"{run}/member-00{m}/model.h5").visititems(
        lambda n, o: out.append(o[()].astype(np.float64).ravel()) if isinstance(o, h5py.Dataset) and o.dtype.kind == "f" else None)
    return np.concatenate(out)
for m in range(3):
    assert np.array_equal(weights("b1", m), weights("b2", m)), m
    assert not np.allclose(weights("b1", m), weights("plain", m)), m
assert not np.allclose(weights("b1", 0), weights("b1", 1))
PY
pass "--ensemble.bootstrap: same seed, same weights; different from training on the rows themselves"

# The resample is drawn from all 600 rows and the rows it left out validate (out of bag, 600/e ~ 221,
# sd ~ 12): no rows held out first. With --data.val that file validates.
"$HPCTRAIN" train "${small[@]:0:10}" --ensemble.bootstrap --seed 5 --run-dir oob >oob.log || die "bootstrap run failed"
rows=$(grep -o "600 training rows, [0-9]* validation rows" oob.log) || die "bootstrap banner: $(grep 'training rows' oob.log)"
val=$(echo "$rows" | awk '{print $4}')
((val > 180 && val < 265)) || die "bootstrap: $val out-of-bag validation rows of 600"
"$HPCTRAIN" train "${small[@]:0:10}" --ensemble.bootstrap --data.val cal.h5 --seed 5 --run-dir oobv >oobv.log \
  || die "bootstrap run with --data.val failed"
grep -q "600 training rows, 400 validation rows" oobv.log || die "bootstrap with --data.val: $(grep 'training rows' oobv.log)"
pass "--ensemble.bootstrap: resample of all rows, $val out-of-bag rows validate (or --data.val's 400)"

"$HPCTRAIN" predict --checkpoint b1 --data t.h5 --out p.h5 --threads 1 --uq.levels 0.5,0.9 >p.log || die "predict failed"
grep -q "p_optimal_mae=.* p_optimal_coverage_0.5=.* p_optimal_width_0.5=.* p_optimal_coverage_0.9=.* p_optimal_width_0.9=" p.log \
  || die "predict line: $(cat p.log)"
for m in 0 1 2; do
  "$HPCTRAIN" predict --checkpoint b1/member-00$m/model.h5 --data t.h5 --out m$m.h5 --threads 1 >/dev/null
  "$HPCTRAIN" predict --checkpoint b1/member-00$m/model.h5 --data cal.h5 --out c$m.h5 --threads 1 >/dev/null
done
"$PYTHON" - <<'PY' || die "logit intervals or their coverage differ from the hand computation"
import h5py, numpy as np
def spread(prefix):
    p = np.stack([h5py.File(f"{prefix}{m}.h5")["prob"][:].astype(np.float64) for m in range(3)])
    l = np.log(np.clip(p, 1e-7, 1 - 1e-7) / (1 - np.clip(p, 1e-7, 1 - 1e-7)))
    return l.mean(0), l.var(0, ddof=1)
sig = lambda x: 1 / (1 + np.exp(-x))
lbar, s2 = spread("m")
f = h5py.File("p.h5")
assert f.attrs["intervals"] == "logit", f.attrs["intervals"]
p_opt = h5py.File("t.h5")["p_optimal"][:].reshape(-1, 1).astype(np.float64)
for level, z in ((0.5, 0.6744897501960817), (0.9, 1.6448536269514722)):
    lo, hi = sig(lbar - z * np.sqrt(s2)), sig(lbar + z * np.sqrt(s2))
    assert np.allclose(f[f"lower_{level}"][:], lo, atol=2e-6) and np.allclose(f[f"upper_{level}"][:], hi, atol=2e-6), level
    cov = np.mean((f[f"lower_{level}"][:] <= p_opt) & (p_opt <= f[f"upper_{level}"][:]))
    assert abs(cov - f.attrs[f"p_optimal_coverage_{level}"]) < 1e-12, (cov, f.attrs[f"p_optimal_coverage_{level}"])
    assert abs(np.mean(hi - lo) - f.attrs[f"p_optimal_width_{level}"]) < 1e-5
    assert 0 < cov < 1, cov  # the check can fail both ways
mae = np.mean(np.abs(f["prob"][:] - p_opt))
assert abs(mae - f.attrs["p_optimal_mae"]) < 1e-6, (mae, f.attrs["p_optimal_mae"])
print(f"coverage_0.9 {f.attrs['p_optimal_coverage_0.9']:.3f} mae {mae:.4f}")

# The inflation factor: the maximum over k of the calibration labels' likelihood under
# sigmoid(lbar / sqrt(1 + pi k^2 s^2 / 8)); hpctrain's k must be at least as good as a fine grid's best.
lc, sc = spread("c")
y = h5py.File("cal.h5")["y"][:].reshape(-1, 1)
def ll(k):
    p = np.clip(sig(lc / np.sqrt(1 + np.pi * k * k * sc / 8)), 1e-12, 1 - 1e-12)
    return np.mean(np.where(y > 0.5, np.log(p), np.log(1 - p)))
np.save("ll_grid.npy", max(ll(k) for k in np.exp(np.linspace(np.log(0.05), np.log(20), 4000))))
PY
pass "logit intervals, p_optimal coverage, width and MAE equal the hand computation ($(grep -o 'p_optimal_coverage_0.9=[^ ]*' p.log))"

"$HPCTRAIN" predict --checkpoint b1 --data t.h5 --out pi.h5 --threads 1 --uq.levels 0.9 --uq.calibrate inflation \
  --uq.calibration-data cal.h5 >pi.log || die "inflation predict failed"
grep -q "^logit inflation (400 calibration rows): " pi.log || die "no inflation line: $(cat pi.log)"
"$PYTHON" - <<'PY' || die "inflation factor is not the likelihood's maximum, or not applied"
import h5py, numpy as np
f, p = h5py.File("pi.h5"), h5py.File("p.h5")
k = f.attrs["inflation"]
sig = lambda x: 1 / (1 + np.exp(-x))
lc = []
for m in range(3):
    q = np.clip(h5py.File(f"c{m}.h5")["prob"][:].astype(np.float64), 1e-7, 1 - 1e-7)
    lc.append(np.log(q / (1 - q)))
lc = np.stack(lc); mean, s2 = lc.mean(0), lc.var(0, ddof=1)
y = h5py.File("cal.h5")["y"][:].reshape(-1, 1)
pr = np.clip(sig(mean / np.sqrt(1 + np.pi * k * k * s2 / 8)), 1e-12, 1 - 1e-12)
ll = np.mean(np.where(y > 0.5, np.log(pr), np.log(1 - pr)))
assert ll >= float(np.load("ll_grid.npy")) - 1e-7, (ll, float(np.load("ll_grid.npy")))
logit = lambda v: np.log(v / (1 - v))
w_naive = logit(p["upper_0.9"][:].astype(np.float64)) - logit(p["lower_0.9"][:].astype(np.float64))
w_inf = logit(f["upper_0.9"][:].astype(np.float64)) - logit(f["lower_0.9"][:].astype(np.float64))
ok = w_naive > 1e-3
assert np.allclose(w_inf[ok] / w_naive[ok], k, rtol=1e-3), (np.median(w_inf[ok] / w_naive[ok]), k)
print(f"inflation {k:.4f}")
PY
pass "inflation: the fitted k maximises the calibration likelihood and scales the logit widths ($(grep -o 'inflation.*' pi.log))"

expect_fail "option --uq.calibrate inflation needs --uq.calibration-data" \
  "$HPCTRAIN" predict --checkpoint b1 --data t.h5 --out x.h5 --uq.calibrate inflation
expect_fail "option --uq.calibrate: none | conformal | inflation | pairs | bagged, got logit" \
  "$HPCTRAIN" predict --checkpoint b1 --data t.h5 --out x.h5 --uq.calibrate logit
# Bootstrap pairs: members 2j, 2j+1 on the same rows (resample and out-of-bag rows), different
# seeds; k from the members' logits as the ANOVA of train/probability_intervals.hpp, recomputed here.
"$HPCTRAIN" train "${small[@]}" --ensemble.members 4 --ensemble.bootstrap --ensemble.bootstrap-pairs --seed 5 \
  --run-dir pairs >/dev/null || die "bootstrap pairs ensemble failed"
for m in 0 1 2 3; do
  "$HPCTRAIN" predict --checkpoint pairs/member-00$m/model.h5 --data t.h5 --out q$m.h5 --threads 1 >/dev/null
done
"$HPCTRAIN" predict --checkpoint pairs --data t.h5 --out pp.h5 --threads 1 --uq.levels 0.9 --uq.calibrate pairs \
  >pp.log || die "pairs predict failed: $(cat pp.log)"
"$PYTHON" - <<'PY' || die "bootstrap pairs: wrong rows, or k differs from the hand computation"
import h5py, numpy as np
from configparser import ConfigParser
def seeds(m):
    c = ConfigParser(); c.read_string("[top]\n" + open(f"pairs/member-00{m}/config.ini").read())
    return c["top"]["seed"], c["ensemble"]["bootstrap-seed"]
assert seeds(0)[1] == seeds(1)[1] != seeds(2)[1] == seeds(3)[1] and seeds(0)[0] != seeds(1)[0], [seeds(m) for m in range(4)]
q = np.clip(np.stack([h5py.File(f"q{m}.h5")["prob"][:].astype(np.float64) for m in range(4)]), 1e-7, 1 - 1e-7)
l = np.log(q / (1 - q))
S, W = l.var(0, ddof=1).mean(), (((l[0] - l[1]) ** 2 + (l[2] - l[3]) ** 2) / 4).mean()
k = np.sqrt((max(S - W, 0) * 3 / 2 * (1 + 1 / 2) + W / 4) / S)
f = h5py.File("pp.h5")
assert f.attrs["intervals"] == "logit-pairs" and abs(f.attrs["inflation"] - k) < 1e-4 * k, (f.attrs["inflation"], k)
print(f"k {k:.4f} seed share {W / S:.3f}")
PY
pass "bootstrap pairs: members 0,1 and 2,3 share their rows; $(grep -o 'logit inflation.*' pp.log)"
expect_fail "b1/member-000/model.h5 and b1/member-001/model.h5 did not train on the same bootstrap resample" \
  "$HPCTRAIN" predict --checkpoint b1 --data t.h5 --out x.h5 --uq.calibrate pairs

# The bagged centre's intervals (train::bagged_spread): per row V = max(B - W/2, 0) + B/P from the
# pair means' variance B and the within-pair W, Student t on P - 1 = 1 degree of freedom.
"$HPCTRAIN" predict --checkpoint pairs --data t.h5 --out pb.h5 --threads 1 --uq.levels 0.5,0.9 --uq.calibrate bagged \
  >pb.log || die "bagged predict failed: $(cat pb.log)"
grep -q "^logit centre sd (bagged, 4 members, per row; .*): [0-9.]*$" pb.log || die "no bagged line: $(cat pb.log)"
"$PYTHON" - <<'PY' || die "bagged intervals differ from the hand computation"
import h5py, numpy as np
q = np.clip(np.stack([h5py.File(f"q{m}.h5")["prob"][:].astype(np.float64) for m in range(4)]), 1e-7, 1 - 1e-7)
l = np.log(q / (1 - q))
lbar, pm = l.mean(0), np.stack([(l[0] + l[1]) / 2, (l[2] + l[3]) / 2])
B, W = pm.var(0, ddof=1), ((l[0] - l[1]) ** 2 + (l[2] - l[3]) ** 2) / 4
V = np.maximum(B - W / 2, 0) + B / 2
sig = lambda x: 1 / (1 + np.exp(-x))
f = h5py.File("pb.h5")
assert f.attrs["intervals"] == "logit-bagged", f.attrs["intervals"]
assert np.allclose(f["centre_std"][:], np.sqrt(V), rtol=1e-5, atol=1e-6)
p_opt = h5py.File("t.h5")["p_optimal"][:].reshape(-1, 1)
for level, t in ((0.5, 1.0), (0.9, 6.313751514675043)):  # scipy.stats.t.ppf((1 + level) / 2, 1)
    lo, hi = f[f"lower_{level}"][:], f[f"upper_{level}"][:]
    assert np.allclose(lo, sig(lbar - t * np.sqrt(V)), atol=2e-6) and np.allclose(hi, sig(lbar + t * np.sqrt(V)), atol=2e-6)
    assert np.all((lo <= sig(lbar) + 1e-6) & (sig(lbar) <= hi + 1e-6)), level  # the centre is inside
    cov = np.mean((lo <= p_opt) & (p_opt <= hi))
    assert abs(cov - f.attrs[f"p_optimal_coverage_{level}"]) < 1e-12, (cov, level)
assert np.all(f["upper_0.9"][:] - f["lower_0.9"][:] >= f["upper_0.5"][:] - f["lower_0.5"][:] - 1e-7)
print(f"coverage_0.9 {f.attrs['p_optimal_coverage_0.9']:.3f}")
PY
pass "bagged: per-row centre variance and t intervals equal the hand computation; $(grep -o 'p_optimal_coverage_0.9=[^ ]*' pb.log)"
expect_fail "option --uq.calibrate bagged: b1/member-000/model.h5 and b1/member-001/model.h5 did not train on the same" \
  "$HPCTRAIN" predict --checkpoint b1 --data t.h5 --out x.h5 --uq.calibrate bagged
expect_fail "option --ensemble.bootstrap-pairs: needs --ensemble.bootstrap and an even --ensemble.members, got 3 members" \
  "$HPCTRAIN" train "${common[@]}" --ensemble.bootstrap --ensemble.bootstrap-pairs --run-dir odd
expect_fail "option --ensemble.bootstrap: not with --data.stream" \
  "$HPCTRAIN" train --data.train g.h5 --epochs 1 --ensemble.bootstrap --data.stream --run-dir s --quiet
finish
