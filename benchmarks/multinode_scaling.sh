#!/usr/bin/env bash
# Scaling across emulated hosts (tests/cluster/hosts_box.sh: network namespaces on a bridge; needs
# root) and the allreduce bandwidth of each path, in one run:
#   - comm_bench (shm, mpi, hier) on 4 ranks of one host and on 2 hosts x 2 ranks;
#   - per model, training with local batch 128 at 1, 2, 4 ranks on one host and 2 (1+1), 4 (2+2)
#     ranks on 2 hosts: samples/s (all ranks, first epoch excluded), efficiency (samples/s over
#     ranks x the 1-rank samples/s) and exposed communication (rank 0's allreduce wait not hidden
#     behind backward, over its step time).
# Writes OUT/comm_*.txt and OUT/scaling.csv (the input of benchmarks/scaling_model.py) and prints them.
# On this 2-core machine 4 ranks oversubscribe the cores: efficiency there measures the machine.
# Usage: benchmarks/multinode_scaling.sh [BUILD_DIR] [OUT_DIR]; LINK=1gbit limits host 2's link; REPEAT=N
# runs per point (median; default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(realpath "${1:-build}")
out=$(realpath -m "${2:-benchmarks/results/multinode}")
mkdir -p "$out"
bin=$build/hpctrain
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1 OMP_NUM_THREADS=1
SCRATCH=$(mktemp -d)
source tests/cluster/hosts_box.sh
hosts_start 2
trap 'rm -rf "$SCRATCH"; hosts_stop' EXIT
[[ -n ${LINK:-} ]] && hosts_limit 2 "$LINK"
local_mpirun() { mpirun --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 "$@"; }

local_mpirun -np 4 "$build/benchmarks/comm_bench" shm mpi hier --max-mb 16 | tee "$out/comm_1host_4ranks.txt"
hosts_mpirun -np 4 --bind-to none "$build/benchmarks/comm_bench" mpi hier --max-mb 16 | tee "$out/comm_2hosts_4ranks.txt"

"$bin" gen-data --kind heteroscedastic --n 32768 --out "$SCRATCH/small.h5" >/dev/null
"$bin" gen-data --kind heteroscedastic --n 8192 --out "$SCRATCH/wide.h5" >/dev/null
# run HOSTS RANKS DATA WIDTHS EPOCHS -> "parameters samples/s exposed_fraction", the median of REPEAT
# (default 3) runs by samples/s: this shared machine's load swings single runs by 2x.
run() {
  local i
  for ((i = 0; i < ${REPEAT:-3}; i++)); do run_once "$@"; done | sort -k2,2n | sed -n "$(( (${REPEAT:-3} + 1) / 2 ))p"
}
run_once() {
  local launch=()
  rm -rf "$SCRATCH/run"
  if [[ $1 -eq 2 ]]; then
    launch=(hosts_mpirun -np "$2" --map-by node --bind-to none)
  elif [[ $2 -gt 1 ]]; then
    launch=(local_mpirun -np "$2")
  fi
  "${launch[@]}" "$bin" train --data.train "$3" --data.val-fraction 0 --model.widths "$4" --epochs "$5" \
    --batch-size 128 --threads 1 --run-dir "$SCRATCH/run" >"$SCRATCH/log"
  sed -n 's/.*| \([0-9]*\) parameters.*/\1/p' "$SCRATCH/log" | head -1 | tr '\n' ' '
  sed -n 's/.*| \([0-9]*\) samples\/s.*/\1/p' "$SCRATCH/log" | tail -1 | tr '\n' ' '
  awk -F, 'NR == 1 {for (i = 1; i <= NF; i++) c[$i] = i; next}
           NR > 2 {w += $c["t_comm_wait"]; t += $c["t_data"] + $c["t_forward"] + $c["t_backward"] + $c["t_comm_wait"] + $c["t_optimizer"]}
           END {printf "%.4f\n", (t > 0 ? w / t : 0)}' "$SCRATCH/run/metrics.csv"
}
echo "model,params,hosts,ranks,local_batch,samples_s,efficiency,exposed_comm" >"$out/scaling.csv"
for spec in "default 64,64,64 small.h5 3" "wide-4.2M 1024,1024,1024,1024,1024 wide.h5 2"; do
  set -- $spec
  base=
  for hr in "1 1" "1 2" "1 4" "2 2" "2 4"; do
    read -r h r <<<"$hr"
    read -r params sps frac <<<"$(run "$h" "$r" "$SCRATCH/$3" "$2" "$4")"
    base=${base:-$sps}
    echo "$1,$params,$h,$r,128,$sps,$(awk -v a="$sps" -v b="$base" -v r="$r" 'BEGIN {printf "%.3f", a / (r * b)}'),$frac" \
      | tee -a "$out/scaling.csv"
  done
done
