"""Shared by the PyTorch baselines (torch_mlp_train.py, torch_transformer_train.py): the environment
set before torch loads, optional DDP over gloo, and the timed training loop (epochs after the first).
DDP: benchmarks/run starts one process per rank with RANK, WORLD_SIZE and MASTER_PORT set; each rank
trains on every WORLD_SIZE-th row of the same permutation with the local batch, as `hpctrain train`
under mpirun, and rank 0 prints the samples/s of all ranks."""
import os
# Debian's torch runs its gemms in the pthread build of OpenBLAS, whose threads compete for the cores
# with torch's own OpenMP threads while those spin-wait after each parallel region: on 2 threads that
# made PyTorch slower than on 1. Passive waiting gives it its best speed here (the LM on 2 threads
# 12 -> 31 samples/s); libgomp reads this when torch loads it, so it is set before the import.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import time  # noqa: E402

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402


def train(model, x, y, loss_fn, epochs, batch_size, threads):
    """Trains with AdamW (lr 1e-3, weight decay 0.01) and prints the samples/s of the epochs after the first."""
    torch.set_num_threads(threads)
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{os.environ.get('MASTER_PORT', '29511')}",
                                rank=rank, world_size=world)
        model = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    n = len(x)
    timed, samples = 0.0, 0
    for epoch in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(n)[rank::world]  # the same permutation on every rank (same seed)
        for b in range(0, len(perm), batch_size):
            idx = perm[b:b + batch_size]
            opt.zero_grad(set_to_none=False)
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        if epoch > 0:
            timed += time.perf_counter() - start
            samples += len(perm) * world
    if world > 1:
        dist.destroy_process_group()
    if rank == 0:
        print(f"{samples / timed:.1f}")
