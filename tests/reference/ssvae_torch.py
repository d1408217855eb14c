"""PyTorch reference of hpctrain's ssvae objective (Kingma et al. 2014, M2) and its gradients.

Reads the text dump of tests/unit/test_ssvae.cpp (HPCT_SSVAE_DUMP=FILE): x, labels (-1 = unlabelled),
the fixed noise eps [N*C, K], the weights (names of the nn.Sequential modules below), hpctrain's
objective and gradients; rebuilds the model in float64 with torch.autograd, written independently of
the C++ kernels (no pairing trick: each unlabelled row loops over the classes), and compares the
objective and every gradient to 1e-5 relative. Usage: ssvae_torch.py DUMP
"""
import math
import sys

import torch
import torch.nn.functional as F


def read_dump(path):
    meta, tensors = None, {}
    for line in open(path):
        parts = line.split()
        if parts[0] == "meta":
            meta = (int(parts[1]), int(parts[2]), float(parts[3]), parts[4])
            continue
        rank = int(parts[1])
        shape = [int(d) for d in parts[2:2 + rank]]
        values = [float(v) for v in parts[2 + rank:]]
        tensors[parts[0]] = torch.tensor(values, dtype=torch.float64).reshape(shape)
    return meta, tensors


def mlp(prefix, params, act):
    """The nn.Sequential(Linear, act, ..., Linear) whose state_dict hpctrain wrote under prefix."""
    idx = sorted({int(k.split(".")[1]) for k in params if k.startswith(prefix + ".")})
    layers = []
    for i, j in enumerate(idx):
        w = params[f"{prefix}.{j}.weight"]
        lin = torch.nn.Linear(w.shape[1], w.shape[0]).double()
        with torch.no_grad():
            lin.weight.copy_(w)
            lin.bias.copy_(params[f"{prefix}.{j}.bias"])
        layers.append(lin)
        if i + 1 < len(idx):
            layers.append(act())
    return torch.nn.Sequential(*layers)


def main():
    (classes, latent, alpha, recon), t = read_dump(sys.argv[1])
    params = {k[6:]: v for k, v in t.items() if k.startswith("param:")}
    nets = {p: mlp(p, params, torch.nn.Tanh) for p in ("classifier", "encoder", "decoder")}
    x, labels, eps = t["x"], t["labels"].long(), t["eps"]
    n = x.shape[0]

    def elbo_loss(row, c):
        """-log p(x|y,z) - log p(y) + KL(q(z|x,y) || N(0, I)) for x row `row` and class c."""
        y = F.one_hot(torch.tensor([c]), classes).double()
        h = nets["encoder"](torch.cat([x[row:row + 1], y], 1))
        mu, lv = h[:, :latent], h[:, latent:]
        z = mu + torch.exp(0.5 * lv) * eps[row * classes + c:row * classes + c + 1]
        r = nets["decoder"](torch.cat([z, y], 1))
        if recon == "bernoulli":
            rec = F.binary_cross_entropy_with_logits(r, x[row:row + 1], reduction="sum")
        else:
            rec = 0.5 * ((x[row:row + 1] - r) ** 2).sum() + 0.5 * math.log(2 * math.pi) * x.shape[1]
        kl = 0.5 * (mu ** 2 + lv.exp() - 1 - lv).sum()
        return rec + kl + math.log(classes)

    logits = nets["classifier"](x)
    logq = F.log_softmax(logits, 1)
    total = 0.0
    for row in range(n):
        if labels[row] >= 0:
            c = int(labels[row])
            total = total + elbo_loss(row, c) + alpha * F.cross_entropy(logits[row:row + 1], labels[row:row + 1])
        else:
            q = logq[row].exp()
            total = total + sum(q[c] * (elbo_loss(row, c) + logq[row, c]) for c in range(classes))
    objective = total / n
    objective.backward()

    def rel(a, b):
        return float((a - b).norm() / max(float(b.norm()), 1e-300))

    worst = rel(t["objective"], objective.detach().reshape(1))
    print(f"objective hpctrain {float(t['objective'][0]):.10f} torch {float(objective):.10f}")
    for prefix, net in nets.items():
        for name, p in net.named_parameters():
            key = f"grad:{prefix}.{name}"
            e = rel(t[key], p.grad)
            worst = max(worst, e)
            if e > 1e-5:
                print(f"MISMATCH {key}: relative error {e:.2e}")
    print(f"worst relative error {worst:.2e}")
    sys.exit(0 if worst < 1e-5 else 1)


if __name__ == "__main__":
    main()
