# slurm/gpu-multinode.sbatch on a SLURM cluster of 2 emulated hosts: one slurmd per network namespace
# (tests/cluster/slurm_box.sh with HOSTS = 2, each host with 2 stand-in GPUs), the controller on the
# hosts' bridge. The job (2 nodes x 2 tasks, one GPU each) starts its 4 ranks with srun --mpi=pmix
# across the hosts; hpctrain sees 2 nodes, reduces gradients node-aware, and reaches the weights of 4
# ranks on one host and of 1 process (trained here with the same global batch).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/hosts_box.sh"
source "$here/slurm_box.sh"
box_setup 2 2
# Open MPI's TCP transport between the hosts on their bridge only (not the loopback of each).
export OMPI_MCA_btl_tcp_if_include=$hosts_net.0/24 OMPI_MCA_oob_tcp_if_include=$hosts_net.0/24

"$HPCTRAIN" gen-data --kind physics19 --n 1600 --out d.h5 >/dev/null
cat >multinode.ini <<INI
epochs = 3
threads = 1
[data]
train = $PWD/d.h5
[model]
widths = 48,33
[ddp]
bucket-mb = 0.01
INI
"$HPCTRAIN" train --config multinode.ini --batch-size 64 --run-dir "$PWD/one" >one.log
mpirun -np 4 --oversubscribe "$HPCTRAIN" train --config multinode.ini --batch-size 16 --run-dir "$PWD/four" >four.log

job=$(sbatch --parsable --nodes=2 --ntasks-per-node=2 --gpus-per-task=1 --cpus-per-task=1 \
      "$templates/gpu-multinode.sbatch" multinode.ini --batch-size 16)
box_wait "$job" 120
box_expect_ok "$job" 1
out=hpctrain-multinode-$job.out
grep -q "^slurm: job $job, 2 node(s), 2 task(s) per node, 1 GPU(s) per task, 1 CPU(s) per task$" "$out" \
  || die "banner: $(grep '^slurm:' "$out")"
grep -q "topology: 2 node(s), 2 rank(s) on this node, 4 rank(s) in all" "$out" || die "no 2-node topology: $(cat "$out")"
grep -q "gradients: node-aware reduction: shared memory inside each node (2 rank(s) here), MPI_Allreduce among 2 node leader(s)" "$out" \
  || die "not node-aware: $(grep gradients "$out")"
nodes=$(sed -n 's/.*NodeList=\([^ ]*\).*/\1/p' <<<"$(scontrol show job -o "$job")")
[[ $nodes == "host[1-2]" ]] || die "the job ran on '$nodes', expected host[1-2]"
pass "gpu-multinode.sbatch: 2 hosts x 2 ranks under srun --mpi=pmix, node-aware gradients (NodeList $nodes)"
for ref in four one; do
  msg=$(same_weights "$ref" "runs/$job") || die "the 2-host job differs from $ref: $msg"
  pass "the 2-host SLURM job vs $ref: $msg"
done
