#!/usr/bin/env bash
# The bootstrap-pair ensembles of benchmarks/uq_coverage.sh (same data sets, seeds and options: the
# ensemble's own predict line reproduces runs_bootstrap_pairs.txt), keeping each member's test
# probabilities: repetitions FIRST..LAST -> OUT/repN.npz (p [members, rows], popt, y), OUT/ensN.log.
# Usage: collect.sh FIRST LAST [BIN] (OUT, MEMBERS from the environment; /usr/bin/python3 with h5py).
set -euo pipefail
first=$1 last=$2 bin=$(realpath "${3:-build/hpctrain}") members=${MEMBERS:-50} out=${OUT:-method_comparison_data}
mkdir -p "$out"
for rep in $(seq "$first" "$last"); do
  w=$(mktemp -d)
  gen() { "$bin" gen-data --kind two-gaussians --features 8 --separation 2 --n "$1" --seed "$2" --out "$3" >/dev/null; }
  gen 4000 "$rep" "$w/train.h5"; gen 10000 $((rep + 2000)) "$w/test.h5"
  "$bin" train --data.train "$w/train.h5" --epochs 20 --batch-size 128 --model.widths 64,64 --threads 1 \
    --ensemble.members "$members" --seed $((rep * 7919)) --run-dir "$w/run" --quiet --ensemble.bootstrap \
    --ensemble.bootstrap-pairs >/dev/null
  for i in $(seq 0 $((members - 1))); do
    "$bin" predict --checkpoint "$w/run/member-$(printf %03d "$i")/model.h5" --data "$w/test.h5" --out "$w/m$i.h5" \
      --threads 1 >/dev/null
  done
  "$bin" predict --checkpoint "$w/run" --data "$w/test.h5" --out "$w/ens.h5" --uq.levels 0.95 --threads 1 >"$out/ens$rep.log"
  /usr/bin/python3 - "$w" "$members" "$out/rep$rep.npz" <<'PY'
import sys, h5py, numpy as np
w, M, o = sys.argv[1], int(sys.argv[2]), sys.argv[3]
P = np.stack([h5py.File(f"{w}/m{i}.h5")["prob"][:].ravel() for i in range(M)])
t = h5py.File(f"{w}/test.h5")
np.savez(o, p=P, popt=t["p_optimal"][:].ravel(), y=t["y"][:].ravel())
PY
  rm -rf "$w"; echo "repetition $rep done" >&2
done
