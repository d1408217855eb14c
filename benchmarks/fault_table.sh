#!/usr/bin/env bash
# The fault table of docs/reliability.md: injects each fault into a 2-rank training (physics19, 8000
# rows, MLP 256x3, 1 thread per rank, a checkpoint every 20 steps, --dist.timeout-s 4) and prints
# what happened, the seconds from the fault to the end of the job (or to the resumed run's start),
# and the optimizer steps of work lost (done before the fault but not in the checkpoint resumed from).
# Usage: benchmarks/fault_table.sh [BUILD_DIR]   (default build/)
set -uo pipefail
cd "$(dirname "$0")/.."
hp=$(realpath "${1:-build}")/hpctrain
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1 OMP_NUM_THREADS=1
work=$(mktemp -d)
trap 'umount "$work/full" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"
"$hp" gen-data --kind physics19 --n 8000 --out d.h5 >/dev/null
base=(--data.train d.h5 --threads 1 --dist.timeout-s 4)
opts=("${base[@]}" --epochs 400 --model.widths 256,256,256 --log-every 1 --checkpoint.every-steps 20)
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f}')"; }
rank_pid() { for p in $(pgrep -f "hpctrain train.*--run-dir $1( |$)"); do
  tr '\0' '\n' </proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && echo "$p"; done | head -1; }
last_step() { grep -o "step [0-9]* train_loss" "$1" | tail -1 | awk '{print $2}'; }
ckpt_step() { sed -n 's/step-0*\([0-9]*\)\.h5/\1/p' "$1/checkpoints/latest" 2>/dev/null || echo 0; }
row() { printf '| %s | %s | %s | %s |\n' "$@"; }

# fault NAME SIGNAL RANK [LAUNCH-OPTS]: 2 ranks, SIGNAL to RANK once step 30 is logged.
fault() {
  local name=$1 sig=$2 rank=$3
  timeout 120 mpirun -np 2 "$hp" train "${opts[@]}" --run-dir "$name" >"$name.out" 2>"$name.err" &
  local job=$!
  until grep -q "step 30 train_loss" "$name.out" 2>/dev/null; do sleep 0.05; done
  local p; p=$(rank_pid "$name" "$rank")
  local t0; t0=$(now)
  kill "-$sig" "$p"
  local rc=0; wait $job || rc=$?
  local t1; t1=$(now)
  kill -9 "$p" 2>/dev/null
  local done_steps; done_steps=$(last_step "$name.out")
  local lost=$((done_steps - $(ckpt_step "$name")))
  echo "$rc $(secs "$t0" "$t1") $((lost < 0 ? 0 : lost))"
}

echo "| fault | what happened | seconds to exit | steps lost |"
echo "|---|---|---|---|"
read -r rc t lost < <(fault kill KILL 1)
row "SIGKILL of rank 1" "job ends (mpirun status $rc), rank 0 names the lost peer" "$t" "$lost (since the last checkpoint)"
read -r rc t lost < <(fault stop STOP 1)
row "SIGSTOP of rank 1" "rank 0's collective times out (--dist.timeout-s 4), job ends, status $rc" "$t" "$lost (since the last checkpoint)"
read -r rc t lost < <(fault term TERM 0)
row "SIGTERM mid-epoch (to rank 0)" "both stop after one more step, checkpoint, status $rc" "$t" "$lost"
read -r rc t lost < <(fault usr1 USR1 1)
row "SIGUSR1 to rank 1 only" "both stop at the same step, checkpoint, status $rc" "$t" "$lost"

# Corrupt latest checkpoint: resume falls back to the one before.
cp -r usr1 corrupt
f=corrupt/checkpoints/$(cat corrupt/checkpoints/latest)
printf 'garbage' | dd of="$f" bs=1 seek=4096 conv=notrunc 2>/dev/null
t0=$(now)
mpirun -np 2 "$hp" train "${base[@]}" --epochs 400 --model.widths 256,256,256 --log-every 1 --checkpoint.every-steps 20 \
  --debug.stop-after-steps $(( $(ckpt_step usr1) + 1 )) --resume corrupt >corrupt.out 2>corrupt.err
t1=$(now)
from=$(grep -o "resuming from .*step-0*[0-9]*" corrupt.out | grep -o '[0-9]*$')
from=$((10#$from))
row "corrupt latest checkpoint" "warned, resumed from the previous checkpoint (step $from)" \
  "$(secs "$t0" "$t1") (whole resumed run)" "$(( $(ckpt_step usr1) - from ))"

# NaN batch: 3 non-finite steps with --nan.max-consecutive 5 (go on), 5 (stop).
"$hp" train "${base[@]}" --epochs 1 --model.widths 256,256,256 --log-every 1 --checkpoint.every-steps 20 \
  --debug.overflow-step 25 --debug.overflow-steps 3 --nan.max-consecutive 5 --run-dir nan_ok >nan_ok.out 2>&1
row "3 NaN steps (max 5)" "skipped, reported, skipped_steps = $(tail -1 nan_ok/metrics.csv | awk -F, '{print $NF}'), run completes" "-" "0 (3 updates skipped)"
t0=$(now)
"$hp" train "${base[@]}" --epochs 1 --model.widths 256,256,256 --log-every 5 --checkpoint.every-steps 20 \
  --debug.overflow-step 25 --debug.overflow-steps 5 --nan.max-consecutive 5 --run-dir nan_stop >nan_stop.out 2>nan_stop.err
rc=$?; t1=$(now)
row "5 NaN steps in a row (max 5)" "stops (status $rc) at the next log point; checkpoint of step $(ckpt_step nan_stop) intact" "-" \
  "$(( $(last_step nan_stop.out) - $(ckpt_step nan_stop) ))"

# Disk full: a 160 kB tmpfs fills up at a checkpoint.
mkdir -p full
if mount -t tmpfs -o size=160k tmpfs full 2>/dev/null; then
  "$hp" train "${base[@]}" --model.widths 64,64 --epochs 3 --log-every 1 --checkpoint.every-steps 5 --checkpoint.keep 1 \
    --run-dir full/run >full.out 2>full.err
  rc=$?
  row "disk full at a checkpoint" "status $rc: $(grep -o 'error: .*' full.err | cut -c1-70)...; $(cat full/run/checkpoints/latest) intact" "-" \
    "$(( $(last_step full.out) - $(ckpt_step full/run) ))"
else
  row "disk full" "not measured: no tmpfs mount here" "-" "-"
fi
