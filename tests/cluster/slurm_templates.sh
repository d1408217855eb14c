# The other slurm/ templates under a real SLURM with 2 stand-in GPUs (device files the scheduler
# counts and binds; hpctrain trains on the CPU): every template parses and its #SBATCH lines are
# accepted (sbatch --test-only, sized down to this node); one rank per GPU with srun; a GPU array;
# an ensemble and concurrent models over 2 ranks; the preemptible template takes its warning signal
# (SIGUSR1 to the batch shell, as --signal=B:USR1@120 sends it), hpctrain checkpoints and requeues the
# job (exit 75), and the requeued run resumes to the weights of an uninterrupted run, bit for bit.
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../lib.sh"
source "$here/slurm_box.sh"
box_setup 2

# What this node can hold instead of each template's production sizes (2 CPUs, 2 GPUs, 1 node).
small_sizes() {
  case $1 in
    cpu-array.sbatch | gpu-array.sbatch) echo "--array=0-1 --cpus-per-task=1" ;;
    gpu-1node-mpirun.sbatch) echo "--ntasks-per-node=2 --gpus-per-node=2 --cpus-per-task=1" ;;
    *) echo "--nodes=1 --ntasks-per-node=2 --cpus-per-task=1" ;;
  esac
}
n=0
for path in "$templates"/*.sbatch; do
  t=$(basename "$path")
  bash -n "$path" || die "$t: bash syntax error"
  [[ -x $path ]] || die "$t is not executable"
  grep -q '^# Knobs' "$path" || die "$t has no '# Knobs' header"
  grep -q '^HPCTRAIN=${HPCTRAIN:-hpctrain}' "$path" || die "$t does not take hpctrain from PATH, overridable by HPCTRAIN"
  grep -q '^CONFIG=${1:?usage: ' "$path" || die "$t does not take the config file as its argument"
  # shellcheck disable=SC2046
  sbatch --test-only $(small_sizes "$t") "$path" "$config" >test-only.log 2>&1 \
    || die "$t: sbatch --test-only rejects it: $(cat test-only.log)"
  grep -q "to start at" test-only.log || die "$t: sbatch --test-only: $(cat test-only.log)"
  n=$((n + 1))
done
((n >= 9)) || die "expected the 9 templates, found $n"
pass "$n templates parse, have a knobs header, take the binary from PATH and a config, and sbatch --test-only accepts them"

cat >models.ini <<'INI'
epochs = 2
[data]
train = data/heteroscedastic.h5
[models.small]
type = mlp
widths = 16
[models.wide]
type = mlp
widths = 64,64
INI
# All submitted at once; the scheduler runs them as the 2 CPUs free up.
srun_job=$(sbatch --parsable $(small_sizes gpu-1node-srun.sbatch) "$templates/gpu-1node-srun.sbatch" "$config" --epochs 2)
array_job=$(sbatch --parsable $(small_sizes gpu-array.sbatch) "$templates/gpu-array.sbatch" "$config" --epochs 2)
ens_job=$(MEMBERS=2 sbatch --parsable $(small_sizes ensemble.sbatch) "$templates/ensemble.sbatch" "$config" --epochs 2)
models_job=$(sbatch --parsable $(small_sizes models.sbatch) "$templates/models.sbatch" models.ini)
# Long enough (about 5 s) to take a signal in the middle of training.
pre_job=$(sbatch --parsable $(small_sizes preemptible.sbatch) "$templates/preemptible.sbatch" "$config" \
          --epochs 15 --model.widths 512,512 --threads 1)

box_wait "$srun_job" 60
box_expect_ok "$srun_job" 1
out=hpctrain-gpu-$srun_job.out
# --gpu-bind=verbose prints each task's GPUs: "gpu-bind: usable_gres=0x1; ... global_list=0; ...".
gpus=$(grep -oE 'gpu-bind: .*global_list=[0-9,]+' "$out" | sed 's/.*global_list=//' | sort -u | tr '\n' ' ')
[[ $gpus == "0 1 " ]] || die "expected the 2 ranks on GPUs 0 and 1, got '$gpus': $(grep gpu-bind "$out")"
grep -q "topology: 1 node(s), 2 rank(s) on this node, 2 rank(s) in all" "$out" || die "no 2-rank topology: $(cat "$out")"
grep -q "^slurm: job $srun_job, 1 node(s), 2 task(s) per node, 1 GPU(s) per task, 1 CPU(s) per task$" "$out" \
  || die "banner: $(grep '^slurm:' "$out")"
[[ -s runs/$srun_job/model.h5 ]] || die "no checkpoint in runs/$srun_job"
pass "gpu-1node-srun: 2 ranks, one GPU each (0 and 1), trained"

box_wait "$array_job" 60
box_expect_ok "$array_job" 2
seen=$(cat hpctrain-gpu-array-"${array_job}"_{0,1}.out | grep -oE '^task [01]: GPU [0-9]+' | sort)
[[ $(wc -l <<<"$seen") -eq 2 && $(awk '{print $NF}' <<<"$seen" | sort -u | wc -l) -eq 2 ]] \
  || die "expected the 2 array tasks on 2 different GPUs: $seen"
for task in 0 1; do [[ -s runs/$array_job/task-$task/model.h5 ]] || die "no checkpoint for task $task"; done
pass "gpu-array: 2 tasks, each with its own GPU and run directory ($(tr '\n' ';' <<<"$seen"))"

box_wait "$ens_job" 60
box_expect_ok "$ens_job" 1
out=hpctrain-ensemble-$ens_job.out
grep -q "group plan: 2 ranks, 2 groups of 1 rank.*2 members" "$out" || die "no plan of 2 groups: $(grep -A2 'group plan' "$out")"
[[ $(grep -c . "runs/$ens_job/ensemble.csv") -eq 3 ]] || die "ensemble.csv: $(cat "runs/$ens_job/ensemble.csv")"
for m in 000 001; do [[ -s runs/$ens_job/member-$m/model.h5 ]] || die "member $m has no checkpoint"; done
pass "ensemble: 2 members on 2 groups of 1 rank, ensemble.csv and both members' checkpoints"

box_wait "$models_job" 60
box_expect_ok "$models_job" 1
for m in small wide; do [[ -s runs/$models_job/$m/model.h5 ]] || die "model $m has no checkpoint"; done
[[ -s runs/$models_job/models.csv ]] || die "no models.csv"
pass "models: the 2 [models.NAME] runs trained at once, with models.csv"

# SIGUSR1 to the batch shell, as --signal=B:USR1@120 sends it before the time limit: the template
# passes it to hpctrain, which checkpoints, exits 75 and requeues the job (--requeue); the requeued
# run (--resume auto) continues from the checkpoint to the end.
deadline=$((SECONDS + 40))
until grep -q '^epoch 1/' "hpctrain-preemptible-$pre_job.out" 2>/dev/null; do
  ((SECONDS < deadline)) || { box_job_report "$pre_job"; die "the preemptible job did not start training"; }
  sleep 0.3
done
scancel --batch --signal=USR1 "$pre_job"
out=hpctrain-preemptible-$pre_job.out
deadline=$((SECONDS + 60))
until grep -q "requeued SLURM job $pre_job" "$out" 2>/dev/null; do
  ((SECONDS < deadline)) || { box_job_report "$pre_job"; die "the job was not requeued: $(tail "$out")"; }
  sleep 0.3
done
# The restart would wait for cred_expire (120 s): start it now.
deadline=$((SECONDS + 60))
until grep -q '^start: .*restart 1' "$out" 2>/dev/null; do
  ((SECONDS < deadline)) || { box_job_report "$pre_job"; die "the requeued job did not start again: $(tail "$out")"; }
  scontrol update jobid="$pre_job" StartTime=now 2>/dev/null || true
  sleep 1
done
box_wait "$pre_job" 90
box_expect_ok "$pre_job" 1
# (the first run's batch shell ends with the requeue: it prints no end line)
grep -q "SIGUSR1 (time limit near): passing it to hpctrain" "$out" && grep -q "stopped by SIGUSR1 after step" "$out" \
  || die "the first run did not stop with a checkpoint: $(cat "$out")"
grep -q "resuming from runs/$pre_job/checkpoints/step-" "$out" && grep -q '^final: epochs=15 ' "$out" \
  && grep -q '^end: srun exit code 0' "$out" || die "the requeued run did not resume to the end: $(tail "$out")"
mpirun -np 2 "$HPCTRAIN" train --config "$config" --epochs 15 --model.widths 512,512 --threads 1 \
  --run-dir straight >/dev/null
"$PYTHON" - "runs/$pre_job/model.h5" straight/model.h5 <<'PY' || die "requeued run and straight run differ"
import sys, h5py
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
sys.exit(0 if list(a) == list(b) and all(a[k][:].tobytes() == b[k][:].tobytes() for k in a) else 1)
PY
pass "preemptible: SIGUSR1 -> checkpoint, exit 75, scontrol requeue; the requeued run resumed to the straight run's weights, bit for bit"
finish
