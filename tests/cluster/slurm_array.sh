# slurm/cpu-array.sbatch under a real SLURM: an array of 2 tasks trains 2 runs at once, each with its
# own seed (SEED_BASE + task id) in its own run directory; both complete, and their weights differ.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/slurm_box.sh"
box_setup

job=$(SEED_BASE=11 sbatch --parsable --array=0-1 --cpus-per-task=1 "$templates/cpu-array.sbatch" \
      "$config" --epochs 2)
box_wait "$job" 60
box_expect_ok "$job" 2

for task in 0 1; do
  run=runs/$job/task-$task
  out=hpctrain-array-${job}_$task.out
  for f in model.h5 config.ini metrics.csv slurm.txt; do [[ -s $run/$f ]] || die "$run/$f is missing"; done
  grep -qx "seed = $((11 + task))" "$run/config.ini" || die "$run/config.ini: $(grep '^seed' "$run/config.ini")"
  grep -q "^slurm: job [0-9]* (array $job task $task), 1 node(s), 1 task(s) per node, 1 CPU(s) per task$" "$run/slurm.txt" \
    || die "$run/slurm.txt: $(cat "$run/slurm.txt")"
  grep -q '^final: epochs=2 ' "$out" || die "no final line in $out: $(tail -5 "$out")"
  pass "task $task: seed $((11 + task)), its own run directory $run and output $out"
done
# Both tasks had a CPU each, so they ran at the same time.
starts=$(scontrol show job -o "$job" | grep -oE 'StartTime=[^ ]+' | sort -u | wc -l)
[[ $starts -eq 1 ]] || echo "note: the 2 tasks started at different times ($(scontrol show job -o "$job" | grep -oE 'StartTime=[^ ]+' | tr '\n' ' '))"

"$PYTHON" - "runs/$job/task-0/model.h5" "runs/$job/task-1/model.h5" <<'PY' || die "the two tasks' weights are the same"
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
assert list(a) == list(b)
sys.exit(0 if any(not np.array_equal(a[k][:], b[k][:]) for k in a) else 1)
PY
pass "the two tasks' weights differ"
finish
