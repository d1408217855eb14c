"""Coverage of p_optimal at 95% by logit intervals of the first M members (M = 10, 20, 30, 50) of each
collected ensemble (collect.sh): the formulas of src/train/probability_intervals.cpp recomputed in
numpy, plus variants not in hpctrain. Usage: compare.py DIR (repN.npz files)."""
import glob, sys, numpy as np
from scipy import stats, optimize

z = stats.norm.ppf(0.975)
logit = lambda p: np.log(np.clip(p, 1e-7, 1 - 1e-7) / (1 - np.clip(p, 1e-7, 1 - 1e-7)))
sig = lambda l: 1 / (1 + np.exp(-l))
res, gam = {}, {}
for f in sorted(glob.glob(f"{sys.argv[1]}/rep*.npz")):
    d = np.load(f)
    L, lam, popt = logit(d["p"].astype(np.float64)), logit(d["popt"].astype(np.float64)), d["popt"]
    for M in (10, 20, 30, 50):
        S = L[:M]; P = M // 2; lb = S.mean(0); s2 = S.var(0, ddof=1)
        pm = 0.5 * (S[0::2] + S[1::2]); B = pm.var(0, ddof=1); W = ((S[0::2] - S[1::2]) ** 2).mean(0) / 2
        vd = np.maximum(B - W / 2, 0); t = stats.t.ppf(0.975, P - 1)
        Sm, Wm = s2.mean(), W.mean()   # train::pair_inflation, pooled over the rows
        k = np.sqrt((max(Sm - Wm, 0) * (M - 1) / (M - 2) * (1 + 1 / P) + Wm / M) / Sm)
        half = {"naive": z * np.sqrt(s2), "pairs": z * k * np.sqrt(s2), "bagged-z": z * np.sqrt(vd + B / P),
                "bagged-t": t * np.sqrt(vd + B / P), "0.632-t": t * np.sqrt((1 - np.exp(-1)) * vd + B / P)}
        q = np.quantile(S, [0.025, 0.975], axis=0)  # the bootstrap percentile interval (linear interpolation)
        for name, h in list(half.items()) + [("percentile", None)]:
            lo, hi = (lb - h, lb + h) if h is not None else (q[0], q[1])
            res.setdefault((M, name), []).append(
                (((lam >= lo) & (lam <= hi)).mean(), (sig(hi) - sig(lo)).mean(), np.abs(sig(lb) - popt).mean()))
        gam.setdefault(M, []).append((np.abs(lb - lam), vd, B / P, t))
print(f"{'M':>3} {'interval':>9} {'coverage95':>14} {'width':>7} {'mae(sigmoid lbar)':>17} reps")
for (M, name), v in sorted(res.items()):
    v = np.array(v)
    print(f"{M:3d} {name:>9} {100 * v[:, 0].mean():6.1f} +- {100 * v[:, 0].std(ddof=1):4.1f} {v[:, 1].mean():7.4f}"
          f" {v[:, 2].mean():17.4f} {len(v):4d}")
# Diagnostic only (uses p_optimal): the factor on v_data at which bagged-t would cover 95%.
for M, pre in gam.items():
    cov = lambda g: np.mean([np.mean(e <= t * np.sqrt(g * vd + mc)) for e, vd, mc, t in pre])
    print(f"M={M}: v_data factor for 95% (diagnostic) {optimize.brentq(lambda g: cov(g) - 0.95, 0.05, 3):.3f}")
