#!/usr/bin/env python3
"""A scaling model for hpctrain's data parallelism, fitted to benchmarks/multinode_scaling.sh's output.

    python3 benchmarks/scaling_model.py [RESULTS_DIR]   (default benchmarks/results/multinode)

Model of one step with local batch b on p ranks (g per node, N = p / g nodes):
    t_step = b * t_sample * slowdown + exposed
    exposed = max(0, t_comm - overlap * backward), backward = 2/3 of compute
    t_comm  = sum over gradient buckets (1 MB first, then 25 MB) of the allreduce time of that bucket:
              intra-node  alpha_i + 2 (g-1)/g * S / B_i            (shared memory; NVLink)
            + inter-node  alpha_x * 2 log2 N + 2 (N-1)/N * S / B_x   (leaders over the network)
Fitted here: t_sample per model (1 rank), alpha/B of each level from comm_bench (intra: shm on one
host; inter: hier on 2 hosts minus its intra part), overlap (one value, least squares over all points).
slowdown = max(1, ranks / cores): every rank, on any emulated host, shares this machine's cores;
t_sync: a fixed cost per step on more than one rank (fitted with overlap, least squares).
"""
import csv, math, os, sys

d = sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/multinode"


def table(path, name):
    """{bytes: seconds} of one path in a comm_bench output."""
    rows, cur = {}, None
    for line in open(path):
        if line.startswith("# path"):
            cur = line.split()[2].rstrip(",")
        elif cur == name and line.strip() and not line.startswith("#"):
            f = line.split()
            rows[int(f[0])] = float(f[2]) * 1e-6
    return rows


def fit_line(xs, ys):
    """y = a + b x (a, b >= 0) minimising the relative error: weights 1 / y^2."""
    w = [1 / y ** 2 for y in ys]
    sw = sum(w)
    mx, my = sum(wi * x for wi, x in zip(w, xs)) / sw, sum(wi * y for wi, y in zip(w, ys)) / sw
    b = sum(wi * (x - mx) * (y - my) for wi, x, y in zip(w, xs, ys)) / max(1e-300, sum(wi * (x - mx) ** 2 for wi, x in zip(w, xs)))
    b = max(b, 1e-15)
    return max(0.0, my - b * mx), b


def buckets(params, bytes_per=4, first_mb=1.0, mb=25.0):
    left, out, cap = params * bytes_per, [], first_mb * 1048576
    while left > 0:
        out.append(min(left, cap)); left -= cap; cap = mb * 1048576
    return out


def t_level(S, n, alpha, bw, tree=False):
    if n <= 1:
        return 0.0
    return alpha * (2 * math.log2(n) if tree else 1) + 2 * (n - 1) / n * S / bw


def t_comm(params, g, N, hw):
    return sum(t_level(S, g, hw["alpha_i"], hw["bw_i"]) + t_level(S, N, hw["alpha_x"], hw["bw_x"], True)
               for S in buckets(params))


def step(params, b, t_sample, g, N, hw, overlap, slowdown=1.0):
    compute = b * t_sample * slowdown
    return compute + max(0.0, t_comm(params, g, N, hw) - overlap * compute * 2 / 3), compute


# --- fit the levels -------------------------------------------------------------------------------
shm = table(os.path.join(d, "comm_1host_4ranks.txt"), "shm")
hier2 = table(os.path.join(d, "comm_2hosts_4ranks.txt"), "hier")
a_i, k_i = fit_line(list(shm), [t for t in shm.values()])  # t = a + k S, k = 2 (n-1)/n / B
here = {"alpha_i": a_i, "bw_i": 2 * 3 / 4 / k_i}
resid = {S: max(1e-7, t - t_level(S, 2, here["alpha_i"], here["bw_i"])) for S, t in hier2.items()}
a_x, k_x = fit_line(list(resid), list(resid.values()))
here.update(alpha_x=a_x / 2, bw_x=2 * 1 / 2 / k_x)  # N = 2: 2 log2 N = 2 latencies, 2 (N-1)/N = 1

# --- fit compute and overlap; predicted vs measured ---------------------------------------------
rows = list(csv.DictReader(open(os.path.join(d, "scaling.csv"))))
t_sample = {r["model"]: 1 / float(r["samples_s"]) for r in rows if r["ranks"] == "1"}
cores = os.cpu_count() or 1


def predict(r, overlap, t_sync):
    """t_sync: a fixed cost per step and rank count > 1 (waking the communication thread, a peer's
    arrival on shared cores), which comm_bench's alpha does not see."""
    p, h = int(r["ranks"]), int(r["hosts"])
    g, N = p // h, h
    ts, _ = step(int(r["params"]), int(r["local_batch"]), t_sample[r["model"]], g, N, here, overlap,
                 max(1.0, p / cores))  # the emulated hosts share this machine's cores
    return p * int(r["local_batch"]) / (ts + (t_sync if p > 1 else 0.0))


def misfit(o, t):
    return sum((predict(r, o, t) / float(r["samples_s"]) - 1) ** 2 for r in rows)


syncs = [0.0] + [1e-6 * 2 ** (k / 2) for k in range(25)]  # 0, 1 us .. 4 ms
overlap, t_sync = min(((o / 20, t) for o in range(21) for t in syncs), key=lambda ot: misfit(*ot))
print(f"fitted here: intra alpha {here['alpha_i']*1e6:.1f} us, B {here['bw_i']/1e9:.2f} GB/s; "
      f"inter alpha {here['alpha_x']*1e6:.1f} us, B {here['bw_x']/1e9:.3f} GB/s; overlap {overlap:.2f}; "
      f"sync {t_sync*1e6:.0f} us per step; {cores} cores per host")
print(f"{'model':<10} {'hosts':>5} {'ranks':>5} {'measured/s':>11} {'predicted/s':>11} {'error':>7}")
errs = []
for r in rows:
    pred, meas = predict(r, overlap, t_sync), float(r["samples_s"])
    errs.append(abs(pred / meas - 1))
    print(f"{r['model']:<10} {r['hosts']:>5} {r['ranks']:>5} {meas:>11.0f} {pred:>11.0f} {100*(pred/meas-1):>+6.1f}%")
print(f"mean absolute error {100*sum(errs)/len(errs):.1f}%, worst {100*max(errs):.1f}%\n")

# --- projection to H100 clusters -------------------------------------------------------------------
ASSUME = [
    "H100 SXM: 989 TFLOP/s dense bf16 peak; a step reaches MFU 0.35 of it (6 FLOP per parameter per sample)",
    "plus a fixed 0.25 ms per step of kernel launches (these models are tiny: launch-bound)",
    "gradients fp32, buckets 1 MB then 25 MB (hpctrain's defaults), local batch 128 per GPU (weak scaling)",
    "intra-node NVLink: busbw 360 GB/s, alpha 8 us (nccl-tests all_reduce on DGX H100 class)",
    "inter-node: one leader per node, the node's NICs striped: 4 GPU x 200 Gb/s or 8 GPU x 400 Gb/s, 80% usable; alpha 6 us",
    f"overlap of communication with backward as fitted here ({overlap:.2f}); not this machine's "
    f"per-step sync ({t_sync*1e6:.0f} us: threads of oversubscribed CPU ranks), which a GPU step does not pay",
]
systems = {"4xH100 200Gb/s": (4, 4 * 200e9 / 8 * 0.8), "8xH100 400Gb/s": (8, 8 * 400e9 / 8 * 0.8)}
params = {r["model"]: int(r["params"]) for r in rows}
print("Projection (assumptions):")
for a in ASSUME:
    print("  - " + a)
gpus = [8, 16, 32, 64, 128, 256, 512, 1024]
print(f"{'model':<10} {'system':<16} " + " ".join(f"{n:>11}" for n in gpus))
for m, P in params.items():
    t_s = 6 * P / (0.35 * 989e12)
    for name, (g, bw_x) in systems.items():
        hw = {"alpha_i": 8e-6, "bw_i": 360e9, "alpha_x": 6e-6, "bw_x": bw_x}
        cells = []
        for n in gpus:
            ts, comp = step(P, 128, t_s, g, n // g, hw, overlap)
            ts += 0.25e-3; comp += 0.25e-3
            cells.append(f"{ts*1e3:5.2f}ms/{comp/ts:3.0%}")
        print(f"{m:<10} {name:<16} " + " ".join(f"{c:>11}" for c in cells))
print("cells: step time / efficiency (compute over step time)")
