# --dist.timeout-s bounds every collective: a rank that stops (SIGSTOP) or dies (SIGKILL) in the middle of
# training ends the whole job within the timeout plus a few seconds, with a message naming the rank, the
# operation and where the run was, for plain DDP (through MPI_Allreduce and through the shared-memory
# window) and for an ensemble group, whose communication thread is stuck in the collective when the
# failing rank unwinds (its communicator then ends the job itself, instead of joining that thread).
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1

"$HPCTRAIN" gen-data --kind physics19 --n 20000 --out d.h5 >/dev/null
long=(--data.train d.h5 --epochs 500 --model.widths 256,256,256 --threads 1 --dist.timeout-s 4)

rank_pid() {  # RUN_DIR RANK: the pid of that rank of the job writing RUN_DIR
  for p in $(pgrep -f "hpctrain train.*--run-dir $1( |$)"); do
    # Only this test's job: the cpu-async copy of this test may run at the same time with the same names.
    [[ $(readlink "/proc/$p/cwd") == "$PWD" ]] || continue
    tr '\0' '\n' </proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && echo "$p"
  done | head -1
}
# wait_job PID NAME: waits up to 100 s for the job; past that, prints every rank's threads' stacks
# (gdb) into the test's log, so that a hang can be diagnosed, then ends the job (status 124).
wait_job() {
  local job=$1 name=$2 i r p
  for ((i = 0; i < 1000; ++i)); do
    kill -0 "$job" 2>/dev/null || { wait "$job"; return; }
    sleep 0.1
  done
  echo "$name: the job did not end within 100 s; the ranks' stacks:" >&2
  for r in 0 1; do
    p=$(rank_pid "$name" "$r")
    [[ -n $p ]] || continue
    echo "---- rank $r (pid $p) ----" >&2
    command -v gdb >/dev/null || { echo "(no gdb: scripts/install-deps installs it)" >&2; break; }
    timeout 60 gdb -p "$p" -batch -ex "thread apply all bt" >&2 2>&1 || echo "(gdb failed: status $?)" >&2
  done
  kill -TERM "$job" 2>/dev/null || true
  wait "$job"
  return 124
}
# fault SIGNAL NAME ARGS...: trains NAME on 2 ranks, sends SIGNAL to rank 1 after 3 s; prints seconds
# from the signal to the end of mpirun.
fault() {
  local sig=$1 name=$2; shift 2
  mpirun -np 2 "$HPCTRAIN" train "${long[@]}" "$@" --run-dir "$name" >"$name.out" 2>"$name.err" &
  local job=$!
  sleep 3
  local p; p=$(rank_pid "$name" 1)
  [[ -n $p ]] || die "$name: no rank 1 found (did it finish early? $(tail -2 "$name.out"))"
  kill "-$sig" "$p"
  local t0; t0=$(date +%s.%N)
  local rc=0
  wait_job "$job" "$name" || rc=$?
  ((rc != 124)) || { kill -9 "$p" 2>/dev/null; die "$name: the job hung (stacks above)"; }
  ((rc != 0)) || die "$name: the job did not fail"
  local t1; t1=$(date +%s.%N)
  kill -9 "$p" 2>/dev/null || true
  python3 -c "print(round($t1 - $t0, 1))"
}

t=$(fault STOP stop_mpi --ddp.zero-copy false)
check "t < 12" t="$t"
grep -q "rank 0: error: rank 0: allreduce of .* did not complete within 4 s .*(at epoch [0-9]*, step [0-9]*)" stop_mpi.err \
  || die "stop_mpi: $(grep error stop_mpi.err)"
pass "SIGSTOP of rank 1, MPI_Allreduce: the job ended in $t s naming rank, operation, epoch and step"

t=$(fault STOP stop_window)
check "t < 12" t="$t"
grep -q "rank 0: error: .*did not complete within 4 s" stop_window.err || die "stop_window: $(grep error stop_window.err)"
pass "SIGSTOP of rank 1, shared-memory window: the job ended in $t s"

t=$(fault STOP stop_ensemble --ddp.zero-copy false --ensemble.members 2 --groups 1)
check "t < 14" t="$t"
grep -q "rank 0: error: .*did not complete within 4 s.*the communication thread is still in 'allreduce" stop_ensemble.err \
  || die "stop_ensemble: $(grep error stop_ensemble.err)"
pass "SIGSTOP of rank 1 in an ensemble group: the job ended in $t s (the group's communicator ended it)"

t=$(fault KILL kill_rank --ddp.zero-copy false)
check "t < 12" t="$t"
pass "SIGKILL of rank 1: the job ended in $t s"

# A peer that stops before MPI is up (here rank 1 stops itself before exec): no option applies yet, so
# HPCTRAIN_INIT_TIMEOUT_S bounds the start-up (src/parallel/init_watchdog.hpp).
t0=$(date +%s.%N)
HPCTRAIN_INIT_TIMEOUT_S=3 mpirun -np 2 bash -c '[[ $OMPI_COMM_WORLD_RANK == 1 ]] && kill -STOP $$; exec "$@"' _ \
  "$HPCTRAIN" train "${long[@]}" --run-dir stop_init >stop_init.out 2>stop_init.err &
job=$!
rc=0
wait_job "$job" stop_init || rc=$?
t=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
((rc != 124)) || die "stop_init: the job hung"
((rc != 0)) || die "stop_init: the job did not fail"
grep -q "hpctrain: rank 0: the MPI start-up did not complete within 3 s: a peer never joined" stop_init.err ||
  die "stop_init: $(cat stop_init.err)"
check "t < 12" t="$t"
pass "rank 1 stopped before MPI_Init: the job ended in $t s naming rank 0's start-up"
expect_fail "HPCTRAIN_INIT_TIMEOUT_S: expected seconds in (0, 1e7], got 'soon'" env HPCTRAIN_INIT_TIMEOUT_S=soon \
  OMPI_COMM_WORLD_SIZE=1 "$HPCTRAIN" train --data.train d.h5 --run-dir bad

expect_fail "option dist.timeout-s: must be in (0, 1e7], got 0" "$HPCTRAIN" train --data.train d.h5 --dist.timeout-s 0 --run-dir bad
finish
