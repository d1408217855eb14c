# Stop signals, NaN steps, a full disk and failed runs (README: Signals and exit statuses).
# - SIGTERM to a 1-rank run: it finishes the step, writes a checkpoint, exits 75; --resume reaches the
#   straight run's weights bit for bit.
# - SIGUSR1 to rank 1 of 2 only: both ranks stop after the same step (one checkpoint), exit 75, and the
#   resumed run equals the straight 2-rank run bit for bit.
# - A second SIGINT ends the process at once; --requeue outside SLURM says so.
# - Non-finite steps without fp16: skipped and counted (skipped_steps) below --nan.max-consecutive; at
#   it, training stops naming the count, and the last checkpoint resumes.
# - A full disk (a small tmpfs) while checkpointing: the error names the path, status 1, the previous
#   checkpoint resumes. A run that fails before its first checkpoint leaves only its logs (train.log,
#   events.jsonl ending in the error): no empty metrics.csv or checkpoints/; nor does a job whose
#   rank 0 is killed (mpirun ends it when rank 1 dies) before the first metrics row.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

"$HPCTRAIN" gen-data --kind physics19 --n 4000 --out d.h5 >/dev/null
# 3200 training rows, 64 a step: 50 steps an epoch on 1 rank, 25 on 2.
base=(--data.train d.h5 --threads 1 --batch-size 64 --model.dropout 0.1 --log-every 5)
std=("${base[@]}" --model.widths 128,128 --epochs 8)

# same_bits RUN_A RUN_B: the parameters of both model.h5 files are the same bytes.
same_bits() {
  "$PYTHON" - "$1/model.h5" "$2/model.h5" <<'PY'
import sys, h5py
a, b = h5py.File(sys.argv[1])["params"], h5py.File(sys.argv[2])["params"]
bad = [k for k in a if a[k][:].tobytes() != b[k][:].tobytes()]
sys.exit(f"parameters differ: {bad}" if bad or list(a) != list(b) else 0)
PY
}
# wait_log FILE PATTERN: until FILE has a line matching PATTERN (at most 60 s).
wait_log() {
  for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  die "no '$2' in $1: $(tail -3 "$1")"
}
rank_pid() {  # RUN_DIR RANK: the pid of that rank of this test's job writing RUN_DIR
  for p in $(pgrep -f "hpctrain train.*--run-dir $1( |$)"); do
    [[ $(readlink "/proc/$p/cwd") == "$PWD" ]] || continue
    if tr '\0' '\n' </proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2"; then echo "$p"; fi
  done | head -1
}
ckpts() { ls "$1/checkpoints" | grep -c '^step-' || true; }
# signal_rank RUN_DIR RANK SIGNAL: once the 2-rank job $job writing RUN_DIR prints a step, send SIGNAL to
# that rank alone and wait for the job: sets rc (its exit status) and t (seconds from signal to end).
signal_rank() {
  wait_log "$1.out" "step"
  local p; p=$(rank_pid "$1" "$2")
  [[ -n $p ]] || die "no rank $2 of $1"
  kill "-$3" "$p"
  local t0; t0=$(date +%s.%N)
  rc=0; wait "$job" || rc=$?
  t=$("$PYTHON" -c "print(round($(date +%s.%N) - $t0, 2))")
}

# ---- SIGTERM, 1 rank ---------------------------------------------------------------------------
"$HPCTRAIN" train "${std[@]}" --run-dir straight1 >/dev/null
"$HPCTRAIN" train "${std[@]}" --run-dir term >term.out 2>term.err &
job=$!
wait_log term.out "epoch 2/[0-9]* step"
kill -TERM $job
t0=$(date +%s.%N)
rc=0; wait $job || rc=$?
t=$("$PYTHON" -c "print(round($(date +%s.%N) - $t0, 2))")
[[ $rc -eq 75 ]] || die "SIGTERM: exit status $rc, expected 75: $(cat term.err)"
grep -q "warning: stopped by SIGTERM after step [0-9]*, checkpoint written; resume with --resume term (exit status 75)" term.err \
  || die "SIGTERM: $(cat term.err)"
[[ ! -e term/model.h5 && $(ckpts term) -eq 1 ]] || die "SIGTERM: expected one checkpoint and no model.h5: $(ls -R term)"
step=$(sed -n 's/.*stopped by SIGTERM after step \([0-9]*\).*/\1/p' term.err)
pass "SIGTERM: stopped after step $step with a checkpoint, exit 75, $t s after the signal"
"$HPCTRAIN" train "${std[@]}" --resume term >term2.out
grep -q "resuming from .*step-0*$step.h5" term2.out || die "resume: $(grep resum term2.out)"
same_bits straight1 term || die "SIGTERM + resume differs from the straight run"
pass "SIGTERM at step $step + --resume = the straight run, bit for bit"

# ---- SIGUSR1 to rank 1 of 2 only -----------------------------------------------------------------
mpirun -np 2 "$HPCTRAIN" train "${std[@]}" --run-dir straight2 >/dev/null
mpirun -np 2 "$HPCTRAIN" train "${std[@]}" --run-dir usr1 >usr1.out 2>usr1.err &
job=$!
wait_log usr1.out "epoch 2/[0-9]* step"
signal_rank usr1 1 USR1
[[ $rc -eq 75 ]] || die "SIGUSR1 to rank 1: exit status $rc, expected 75: $(cat usr1.err)"
[[ $(ckpts usr1) -eq 1 && ! -e usr1/model.h5 ]] || die "SIGUSR1: $(ls -R usr1)"
grep -q "stopped by SIGTERM after step" usr1.err || die "SIGUSR1: rank 0 (which saw no signal) did not report: $(cat usr1.err)"
pass "SIGUSR1 to rank 1 only: both ranks stopped at one step, one checkpoint, exit 75, $t s after the signal"
mpirun -np 2 "$HPCTRAIN" train "${std[@]}" --resume usr1 >/dev/null
same_bits straight2 usr1 || die "SIGUSR1 + resume differs from the straight 2-rank run"
pass "2 ranks: SIGUSR1 to one rank + --resume = the straight run, bit for bit"

# ---- an ensemble of 2 groups: SIGUSR1 to group 0's rank only ----------------------------------------
# Group 1 never sees the signal: the stop relay (src/parallel/stop_relay.hpp) raises it there, so both
# members stop with a checkpoint, every rank exits 75, and --resume auto completes both = straight.
ens=("${base[@]}" --model.widths 512,512 --epochs 12 --ensemble.members 2 --groups 2)
mpirun -np 2 "$HPCTRAIN" train "${ens[@]}" --run-dir ens_straight >/dev/null
mpirun -np 2 "$HPCTRAIN" train "${ens[@]}" --run-dir ens_usr1 >ens_usr1.out 2>ens_usr1.err &
job=$!
signal_rank ens_usr1 0 USR1
[[ $rc -eq 75 ]] || die "ensemble SIGUSR1: exit status $rc, expected 75: $(cat ens_usr1.err)"
for m in 000 001; do
  [[ ! -e ens_usr1/member-$m/model.h5 && $(ckpts ens_usr1/member-$m) -eq 1 ]] || die "ensemble SIGUSR1: member $m: $(ls -R ens_usr1)"
done
grep -q "rank 1: warning: stopped by SIGUSR1 after step" ens_usr1.err || die "group 1 did not stop: $(cat ens_usr1.err)"
pass "ensemble of 2 groups, SIGUSR1 to group 0 only: both members checkpointed, exit 75, $t s after the signal"
mpirun -np 2 "$HPCTRAIN" train "${ens[@]}" --resume auto --run-dir ens_usr1 >/dev/null
for m in 000 001; do same_bits ens_straight/member-$m ens_usr1/member-$m || die "ensemble member $m: resumed weights differ"; done
pass "the stopped ensemble resumes (--resume auto) to the straight run's weights, bit for bit"

# ---- a second SIGINT ends the process at once; --requeue outside SLURM -----------------------------
# Steps of a second or more (4096 x 4096 at batch 1024), so the second SIGINT (0.3 s later, after the
# first was surely delivered: signals of one kind sent at once merge into one) comes before the stop,
# which needs the step in flight to end (the handlers are installed before the banner is printed).
"$HPCTRAIN" train --data.train d.h5 --threads 1 --batch-size 1024 --model.widths 4096,4096 --epochs 200 --checkpoint.keep 0 --run-dir int >int.out 2>int.err &
job=$!
wait_log int.out "resolved configuration"
kill -INT $job; sleep 0.3; kill -INT $job
rc=0; wait $job || rc=$?
[[ $rc -eq 130 ]] || die "two SIGINTs: exit status $rc, expected 130 (killed by SIGINT): $(cat int.err)"
! grep -q "stopped by SIGINT" int.err || die "two SIGINTs: the run stopped as for one"
pass "a second SIGINT ends the run at once (status 130)"
"$HPCTRAIN" train "${base[@]}" --model.widths 128,128 --epochs 200 --checkpoint.keep 0 --requeue --run-dir int1 >int1.out 2>int1.err &
job=$!
wait_log int1.out "epoch 1/[0-9]* step"
kill -INT $job
rc=0; wait $job || rc=$?
[[ $rc -eq 75 ]] && grep -q "stopped by SIGINT after step [0-9]* (--checkpoint.keep 0: no checkpoint)" int1.err \
  && grep -q "not a SLURM job (SLURM_JOB_ID unset), nothing requeued" int1.err || die "one SIGINT: $rc $(cat int1.err)"
pass "one SIGINT: stop with status 75; --requeue outside SLURM says it requeued nothing"

# ---- non-finite steps without fp16 ---------------------------------------------------------------
nan=("${base[@]}" --model.widths 128,128 --epochs 2 --checkpoint.every-steps 10 --debug.overflow-step 23)
"$HPCTRAIN" train "${nan[@]}" --debug.overflow-steps 2 --nan.max-consecutive 3 --run-dir nan_ok >nan_ok.out
grep -q "skipped 2 step(s) with a non-finite loss or gradient" nan_ok.out || die "nan_ok: $(cat nan_ok.out)"
[[ $(tail -1 nan_ok/metrics.csv | awk -F, '{print $NF}') == 2 ]] || die "nan_ok: skipped_steps: $(cat nan_ok/metrics.csv)"
pass "2 non-finite steps in a row under --nan.max-consecutive 3: skipped, reported, skipped_steps = 2, run completes"
expect_fail "training stopped: 3 optimizer steps in a row had a non-finite loss or gradient (--nan.max-consecutive 3" \
  "$HPCTRAIN" train "${nan[@]}" --debug.overflow-steps 3 --nan.max-consecutive 3 --run-dir nan_stop
[[ ! -e nan_stop/model.h5 && $(cat nan_stop/checkpoints/latest) == step-00000020.h5 ]] \
  || die "nan_stop: the last checkpoint should be step 20: $(ls nan_stop/checkpoints)"
"$HPCTRAIN" train "${base[@]}" --model.widths 128,128 --epochs 2 --checkpoint.every-steps 10 --resume nan_stop >nan_resume.out || die "the checkpoint before the NaN steps does not resume"
pass "3 non-finite steps in a row: stops naming the count; the checkpoint of step 20 resumes and completes"

# ---- a full disk while checkpointing -------------------------------------------------------------
mkdir -p full
if mount -t tmpfs -o size=160k tmpfs full 2>/dev/null; then
  trap 'umount "$SCRATCH/full" 2>/dev/null || true' EXIT
  rc=0
  "$HPCTRAIN" train "${base[@]}" --model.widths 64,64 --epochs 2 --checkpoint.every-steps 5 --checkpoint.keep 1 \
    --run-dir full/run >full.out 2>full.err || rc=$?
  [[ $rc -eq 1 ]] || die "disk full: status $rc: $(cat full.err)"
  grep -q "full/run/checkpoints/step-0*[0-9]*.h5" full.err || die "disk full: the error does not name the file: $(cat full.err)"
  latest=$(cat full/run/checkpoints/latest)
  cp -r full/run fullcopy
  umount full; trap - EXIT
  "$HPCTRAIN" train "${base[@]}" --model.widths 64,64 --epochs 2 --checkpoint.every-steps 5 --checkpoint.keep 1 \
    --resume fullcopy >fullcopy.out || die "the checkpoint before the full disk does not resume"
  grep -q "resuming from .*$latest" fullcopy.out || die "full: $(grep resum fullcopy.out)"
  pass "disk full (160 kB tmpfs): '$(grep -o 'error: .*' full.err | cut -c1-90)...', status 1; $latest resumes"
else
  echo "skip: cannot mount a tmpfs here (not root?): the full-disk case is not tested"
fi

# ---- a run that fails before its first checkpoint leaves only its logs ------------------------------
expect_fail "training diverged" "$HPCTRAIN" train "${std[@]}" --debug.overflow-step 0 --optim.clip-norm 1 --run-dir failed
left=$(cd failed && ls -A | sort | tr '\n' ' ')
[[ $left == "events.jsonl train.log " ]] || die "a failed run left: $left"
tail -1 failed/events.jsonl | grep -q '"failed"' || die "the last event is not the failure: $(tail -1 failed/events.jsonl)"
pass "a run that fails at step 0 leaves only train.log and events.jsonl (ending in the error)"

# ---- SIGTERM to mpirun itself ----------------------------------------------------------------------
# OpenMPI 4.1's mpirun ends the job: SIGCONT to the ranks, odls_base_sigkill_timeout seconds (default 1),
# SIGTERM, the same again, SIGKILL. The ranks' stop (one more step and the checkpoint) must fit in the
# second wait: with 3 s it does, the checkpoint resumes (mpirun's own status is 1, not 75). While mpirun
# waits it forwards no output: a rank that fills the few KiB between its stdout and mpirun blocks and
# never stops, so this job prints only a line per epoch (about 1 s).
"$HPCTRAIN" gen-data --kind physics19 --n 40000 --out big.h5 >/dev/null
slow=(--data.train big.h5 --threads 1 --model.widths 256,256,256 --log-every 0)
OMPI_MCA_odls_base_sigkill_timeout=3 mpirun -np 2 "$HPCTRAIN" train "${slow[@]}" --epochs 1000 --run-dir mpiterm \
  >mpiterm.out 2>mpiterm.err &
job=$!
wait_log mpiterm.out "train_loss="
kill -TERM $job
t0=$(date +%s.%N)
rc=0; wait $job || rc=$?
t=$("$PYTHON" -c "print(round($(date +%s.%N) - $t0, 2))")
((rc != 0)) || die "SIGTERM to mpirun: the job completed"
grep -q "stopped by SIGTERM after step [0-9]*, checkpoint written" mpiterm.err \
  || die "SIGTERM to mpirun: no stop: $(cat mpiterm.err; tail -1 mpiterm/train.log)"
[[ $(ckpts mpiterm) -ge 1 ]] || die "SIGTERM to mpirun: no checkpoint"
step=$(grep -o "stopped by SIGTERM after step [0-9]*" mpiterm.err | grep -o "[0-9]*$")
mpirun -np 2 "$HPCTRAIN" train "${slow[@]}" --epochs 1000 --resume mpiterm --debug.stop-after-steps $((step + 1)) \
  >mpiterm2.out 2>&1 || die "SIGTERM to mpirun: no resume: $(tail -3 mpiterm2.out)"
grep -q "resuming from .*step $step\$" mpiterm2.out || die "SIGTERM to mpirun: did not resume from step $step"
pass "SIGTERM to mpirun (odls_base_sigkill_timeout 3): the ranks stop with a checkpoint that resumes; mpirun ends in $t s, status $rc"

# ---- a job ended by another rank's failure (rank 0 killed by mpirun, no chance to clean up) --------
# 32000 training rows, 250 steps an epoch on 2 ranks: rank 1 dies long before the first metrics row.
mpirun -np 2 "$HPCTRAIN" train --data.train big.h5 --threads 1 --model.widths 256,256,256 --epochs 2 --log-every 5 \
  --run-dir killed >killed.out 2>killed.err &
job=$!
signal_rank killed 1 KILL
((rc != 0)) || die "killed: the job did not fail"
! grep -q "^epoch 2/" killed.out || die "killed: rank 1 was killed after the first epoch: $(tail -2 killed.out)"
[[ ! -e killed/metrics.csv ]] || die "a job killed before its first epoch ended left metrics.csv ($(wc -c <killed/metrics.csv) bytes)"
[[ ! -e killed/checkpoints ]] || die "a job killed before its first checkpoint left checkpoints/"
pass "rank 1 killed during the first epoch: the job ends (status $rc), rank 0 leaves no metrics.csv or checkpoints/"
echo "$checks checks passed"
