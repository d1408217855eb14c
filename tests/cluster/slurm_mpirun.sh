# slurm/gpu-1node-mpirun.sbatch under a real SLURM: mpirun inside the allocation starts 2 ranks in
# the 2 task slots, binds each to its own core, and gives each one GPU of the allocation by its local
# rank. The node has 2 stand-in GPUs (device files the scheduler counts; hpctrain trains on the CPU),
# which is enough to check the placement the script does: the template's first version asked for
# --gpus-per-task=1, and both ranks saw GPU 0 (mpirun's daemon step, one task, got one GPU).
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/slurm_box.sh"
box_setup 2

job=$(sbatch --parsable --ntasks-per-node=2 --gpus-per-node=2 --cpus-per-task=1 "$templates/gpu-1node-mpirun.sbatch" \
      "$config" --epochs 2)
box_wait "$job" 60
box_expect_ok "$job" 1
out=hpctrain-gpu-mpirun-$job.out

grep -q "topology: 1 node(s), 2 rank(s) on this node, 2 rank(s) in all, 1 thread(s) per rank" "$out" \
  || die "no 2-rank topology line: $(cat "$out")"
[[ -s runs/$job/model.h5 && -s runs/$job/slurm.txt ]] || die "runs/$job lacks model.h5 or slurm.txt"
grep -q "^slurm: job $job, 1 node(s), 2 task(s) per node, 2 GPU(s) per node, 1 CPU(s) per task$" "$out" \
  || die "banner: $(grep '^slurm:' "$out")"
pass "mpirun inside sbatch trained over 2 ranks (topology, checkpoint, slurm.txt)"

for rank in 0 1; do
  grep -qE "^rank $rank on .*: GPU $rank$" "$out" || die "rank $rank did not get GPU $rank: $(grep '^rank' "$out")"
done
pass "each rank kept one GPU of the allocation, by local rank: $(grep '^rank' "$out" | tr '\n' ';')"
# --report-bindings: "MCW rank R bound to socket S[core C[hwt H]]", a different core per rank.
cores=$(grep -oE 'MCW rank [01] bound to [^]]*' "$out" | grep -oE 'core [0-9]+' | sort -u | wc -l)
[[ $cores -eq 2 ]] || die "expected 2 ranks on 2 different cores: $(grep 'MCW rank' "$out")"
pass "mpirun bound the 2 ranks to 2 different cores"
finish
