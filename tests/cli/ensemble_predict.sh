# predict on an ensemble run: the mixture of the members' predictions with intervals at --uq.levels,
# checked by hand against the members' own single predictions; coverage, NLL and calibration
# printed; split-conformal calibration rescales the intervals by the hand-computed quantile;
# classification ensembles average probabilities (Brier, ECE, p_optimal MAE).
source "$(dirname "$0")/../lib.sh"

for s in 1 2 3; do "$HPCTRAIN" gen-data --kind heteroscedastic --n 1000 --seed $s --out h$s.h5 >/dev/null; done
"$HPCTRAIN" train --data.train h1.h5 --loss gaussian-nll --epochs 4 --batch-size 64 --model.widths 16,16 --threads 1 \
  --ensemble.members 3 --seed 3 --run-dir ens >train.log || die "ensemble training failed"
grep -q "^ensemble: 3 members (3 trained, 0 resumed) in 1 group(s) of 1 rank(s)" train.log || die "$(tail -2 train.log)"

"$HPCTRAIN" predict --checkpoint ens --data h3.h5 --out p.h5 --threads 1 >p.log || die "predict failed"
grep -q "^wrote p.h5: 1000 predictions of an ensemble of 3 members | mse=.* coverage_0.68=.* width_0.68=.* coverage_0.95=.* nll=.* calibration_error=" p.log \
  || die "predict line: $(cat p.log)"
grep -q "^calibration (gaussian intervals): nominal observed 0.1:.* 0.95:" p.log || die "no calibration table: $(cat p.log)"
for m in 0 1 2; do
  "$HPCTRAIN" predict --checkpoint ens/member-00$m/model.h5 --data h3.h5 --out m$m.h5 --threads 1 >/dev/null
  "$HPCTRAIN" predict --checkpoint ens/member-00$m/model.h5 --data h2.h5 --out c$m.h5 --threads 1 >/dev/null
done
"$PYTHON" - <<'PY' || die "ensemble predictions differ from the hand-combined members"
import h5py, numpy as np
p = h5py.File("p.h5")
mu = np.stack([h5py.File(f"m{m}.h5")["mean"][:].astype(np.float64) for m in range(3)])
v = np.stack([h5py.File(f"m{m}.h5")["var"][:].astype(np.float64) for m in range(3)])
mean, var = mu.mean(0), v.mean(0) + ((mu - mu.mean(0)) ** 2).mean(0)
for name in ["mean", "std", "var", "lower_0.68", "upper_0.68", "lower_0.95", "upper_0.95", "calibration_observed"]:
    assert name in p, name
assert p["mean"].shape == (1000, 1) and p["lower_0.95"].shape == (1000, 1), p["mean"].shape
assert np.allclose(p["mean"][:], mean, rtol=1e-5, atol=1e-5)
assert np.allclose(p["var"][:], var, rtol=1e-5, atol=1e-6)
z = 1.959963984540054
assert np.allclose(p["upper_0.95"][:], mean + z * np.sqrt(var), rtol=1e-5, atol=1e-5)
y = h5py.File("h3.h5")["y"][:].reshape(-1, 1)
cov = np.mean((p["lower_0.95"][:] <= y) & (y <= p["upper_0.95"][:]))
assert abs(cov - p.attrs["coverage_0.95"]) < 1e-9, (cov, p.attrs["coverage_0.95"])
nll = np.mean(0.5 * np.log(2 * np.pi) + 0.5 * np.log(var) + (y - mean) ** 2 / (2 * var))
assert abs(nll - p.attrs["nll"]) < 1e-4 * max(1, abs(nll)), (nll, p.attrs["nll"])
print(f"coverage_0.95 {cov:.3f} nll {nll:.4f}")
PY
pass "mean, var, intervals, coverage and NLL equal the hand-combined members ($(grep -o 'coverage_0.95=[^ ]*' p.log))"

"$HPCTRAIN" predict --checkpoint ens --data h3.h5 --out pc.h5 --threads 1 --uq.levels 0.5,0.95 \
  --uq.calibrate conformal --uq.calibration-data h2.h5 >pc.log || die "conformal predict failed"
grep -q "^conformal scales (1000 calibration rows): 0.5=.* 0.95=" pc.log || die "no conformal scales: $(cat pc.log)"
"$PYTHON" - <<'PY' || die "conformal intervals are not the hand-computed ones"
import h5py, numpy as np, math
mu = np.stack([h5py.File(f"c{m}.h5")["mean"][:].astype(np.float64) for m in range(3)])
v = np.stack([h5py.File(f"c{m}.h5")["var"][:].astype(np.float64) for m in range(3)])
mean, var = mu.mean(0), v.mean(0) + ((mu - mu.mean(0)) ** 2).mean(0)
y = h5py.File("h2.h5")["y"][:].reshape(-1, 1)
s = np.sort((np.abs(y - mean) / np.sqrt(var)).ravel())
pc, p = h5py.File("pc.h5"), h5py.File("p.h5")
for level in (0.5, 0.95):
    q = s[math.ceil(1001 * level) - 1]
    assert abs(q - pc.attrs[f"conformal_scale_{level}"]) < 1e-6 * q, (level, q, pc.attrs[f"conformal_scale_{level}"])
    w = pc[f"upper_{level}"][:] - pc[f"lower_{level}"][:]
    assert np.allclose(w, 2 * q * p["std"][:], rtol=1e-5, atol=1e-6)
w_g = np.mean(p["upper_0.95"][:] - p["lower_0.95"][:]); w_c = pc.attrs["width_0.95"]
assert abs(w_g - w_c) > 1e-3 * w_g, (w_g, w_c)
print(f"95% width gaussian {w_g:.4f}, conformal {w_c:.4f}; coverage {pc.attrs['coverage_0.95']:.3f}")
PY
pass "conformal: scales are the ceil((n+1)a)-th calibration scores; the 95% width changes ($(grep -o 'coverage_0.95=[^ ]*' pc.log))"

# Classification: two-gaussians (bce) members average their probabilities.
"$HPCTRAIN" gen-data --kind two-gaussians --n 800 --seed 4 --out g.h5 >/dev/null
"$HPCTRAIN" gen-data --kind two-gaussians --n 500 --seed 5 --out gt.h5 >/dev/null
"$HPCTRAIN" train --data.train g.h5 --epochs 3 --batch-size 64 --model.widths 8 --threads 1 --ensemble.members 2 \
  --run-dir cls --quiet >/dev/null || die "classification ensemble failed"
"$HPCTRAIN" predict --checkpoint cls --data gt.h5 --out pb.h5 --threads 1 >pb.log || die "classification predict failed"
grep -q "accuracy=.* brier=.* ece=.* p_optimal_mae=" pb.log || die "classification metrics: $(cat pb.log)"
"$PYTHON" -c "import h5py; f = h5py.File('pb.h5'); assert f['prob'].shape == (500, 1) and f['lower_0.95'].shape == (500, 1)" \
  || die "classification outputs"
pass "classification ensemble: /prob, Brier, ECE, p_optimal MAE ($(grep -o 'brier=[^ ]*' pb.log))"

expect_fail "--uq.levels: 0 is outside (0, 1)" "$HPCTRAIN" predict --checkpoint ens --data h3.h5 --out x.h5 --uq.levels 0,0.9
expect_fail "option --uq.calibrate conformal needs --uq.calibration-data" \
  "$HPCTRAIN" predict --checkpoint ens --data h3.h5 --out x.h5 --uq.calibrate conformal
rm ens/member-001/model.h5
expect_fail "is an ensemble of 3 members but ens/member-001/model.h5 is missing" \
  "$HPCTRAIN" predict --checkpoint ens --data h3.h5 --out x.h5
finish
