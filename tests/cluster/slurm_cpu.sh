# slurm/cpu-1node.sbatch under a real SLURM (tests/cluster/slurm_box.sh): sbatch runs a 2-rank
# training with srun --mpi=pmix to completion, taking hpctrain from PATH; the run directory holds
# the checkpoint, metrics and slurm.txt, and the log shows 2 ranks, each bound to its own core. One
# rank gets all of --cpus-per-task; a missing binary fails the job with a clear message; srun without
# --mpi=pmix and more threads than SLURM_CPUS_PER_TASK are warned about.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/slurm_box.sh"
box_setup

# As a user would after `module load hpctrain`: HPCTRAIN unset, the binary found on PATH.
job=$(env -u HPCTRAIN PATH="$(dirname "$HPCTRAIN"):$PATH" \
      sbatch --parsable --ntasks-per-node=2 --cpus-per-task=1 "$templates/cpu-1node.sbatch" "$config" --epochs 3)
# Jobs after it: 1 rank on 2 cores (srun must get them: SRUN_CPUS_PER_TASK); a missing binary; and
# the two mistakes hpctrain warns about: srun without --mpi=pmix, and more threads than CPUs per task.
wide=$(sbatch --parsable --ntasks-per-node=1 --cpus-per-task=2 "$templates/cpu-1node.sbatch" "$config" --epochs 1)
nobin=$(HPCTRAIN=/nonexistent/hpctrain sbatch --parsable --ntasks-per-node=1 --cpus-per-task=1 \
        "$templates/cpu-1node.sbatch" "$config")
mistakes=$(sbatch --parsable -n 2 -c 1 -o mistakes-%j.out \
           --wrap "srun --mpi=none $HPCTRAIN train --config $config --epochs 1 --threads 2 --run-dir runs/mistakes")
box_wait "$job" 60
box_expect_ok "$job" 1

out=hpctrain-cpu-$job.out
[[ $(box_field "$job" StdOut) == "$PWD/$out" ]] || die "output is not $out: $(box_field "$job" StdOut)"
run=runs/$job
for f in model.h5 config.ini metrics.csv slurm.txt; do [[ -s $run/$f ]] || die "$run/$f is missing"; done
[[ $(grep -c . "$run/metrics.csv") -eq 4 ]] || die "metrics.csv should have a header and 3 epochs: $(cat "$run/metrics.csv")"
pass "the run directory $run holds model.h5, config.ini, metrics.csv (3 epochs) and slurm.txt"

grep -q "topology: 1 node(s), 2 rank(s) on this node, 2 rank(s) in all, 1 thread(s) per rank" "$out" \
  || die "no 2-rank topology line in $out: $(grep topology "$out")"
[[ $(grep -c '^final:' "$out") -eq 1 ]] || die "expected one final line (rank 0): $(grep '^final:' "$out")"
# srun --cpu-bind=verbose,cores: each of the 2 tasks on its own core.
masks=$(grep -oE 'task +[01] +[01] \[[0-9]+\]: mask 0x[0-9a-f]+' "$out" | awk '{print $NF}' | sort -u | wc -l)
[[ $masks -eq 2 ]] || die "expected 2 tasks bound to 2 different cores: $(grep cpu-bind "$out")"
pass "2 ranks ran (topology line, one final line, 2 distinct CPU masks)"

line="slurm: job $job, 1 node(s), 2 task(s) per node, 1 CPU(s) per task"
grep -qxF "$line" "$out" || die "banner lacks '$line': $(grep '^slurm:' "$out")"
[[ $(head -1 "$run/slurm.txt") == "$line" ]] && grep -qx "SLURM_JOB_ID=$job" "$run/slurm.txt" \
  || die "slurm.txt: $(cat "$run/slurm.txt")"
! grep -q "threads per rank but" "$out" || die "a warning about threads in a job whose threads fit: $(grep warning "$out")"
pass "banner and slurm.txt: '$line'"

box_wait "$wide" 60
box_expect_ok "$wide" 1
grep -q "topology: 1 node(s), 1 rank(s) on this node, 1 rank(s) in all, 2 thread(s) per rank" "hpctrain-cpu-$wide.out" \
  && grep -qE 'task +0 +0 \[[0-9]+\]: mask 0x3 set' "hpctrain-cpu-$wide.out" \
  || die "1 rank with --cpus-per-task=2 did not get 2 cores and 2 threads: $(grep -E 'topology|cpu-bind' "hpctrain-cpu-$wide.out")"
pass "1 rank with --cpus-per-task=2: bound to both cores, 2 threads"

box_wait "$nobin" 60
[[ $(box_field "$nobin" JobState) == FAILED && $(box_field "$nobin" ExitCode) == 1:0 ]] \
  || die "a missing binary: job $(box_field "$nobin" JobState) $(box_field "$nobin" ExitCode)"
grep -q "error: '/nonexistent/hpctrain' not found: module load hpctrain, or set HPCTRAIN" "hpctrain-cpu-$nobin.out" \
  || die "no clear message for a missing binary: $(cat "hpctrain-cpu-$nobin.out")"
pass "a missing binary fails the job (exit 1) saying so"

box_wait "$mistakes" 60
box_expect_ok "$mistakes" 1
out=mistakes-$mistakes.out
[[ $(grep -c "warning: srun started 2 tasks but this one is an MPI world of 1" "$out") -eq 2 ]] \
  || die "srun --mpi=none: expected a warning from each of the 2 tasks: $(grep -E 'warning|topology' "$out")"
[[ $(grep -c "warning: 2 threads per rank but SLURM_CPUS_PER_TASK=1" "$out") -eq 2 ]] \
  || die "--threads 2 on 1 CPU per task: expected a warning from each task: $(grep warning "$out")"
pass "srun --mpi=none (each task a world of 1) and 2 threads on 1 CPU per task are warned about"
finish
