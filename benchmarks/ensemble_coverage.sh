#!/usr/bin/env bash
# Coverage of the 95% interval of 5-member ensembles on the heteroscedastic gen-data set (train,
# held-out calibration and test splits drawn with their own seeds), over 5 seeds:
#   naive      MSE members, interval from the spread of their means only
#   mixture    Gaussian-NLL members, the mixture's variance (mean of variances + variance of means)
#   conformal  the mixture rescaled by split-conformal calibration on the calibration split
# Target (issue 5): conformal within 95% +- 2% on every seed. Then ensemble throughput (members per
# hour) of 8 members under mpirun -np 4 in 1, 2 and 4 groups; and two [models.NAME] trained at once
# (mpirun -np 2, --groups 2) against each trained alone on 1 rank: the wall time of the pair should be
# below the sum of the two (asserted loosely: a warning otherwise).
# Usage: benchmarks/ensemble_coverage.sh [BUILD_DIR]   (EPOCHS, MEMBERS, N to change the size;
# PARTS=coverage or PARTS=throughput for one table)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-build}/hpctrain")
epochs=${EPOCHS:-20} members=${MEMBERS:-5} n=${N:-4000} parts=${PARTS:-coverage,throughput,concurrent}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
attr() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2"; }

if [[ $parts == *coverage* ]]; then
printf "%-5s %10s %10s %10s %10s %10s %10s %8s\n" seed naive width mixture width conformal width nll
for seed in 1 2 3 4 5; do
  "$bin" gen-data --kind heteroscedastic --n "$n" --seed "$seed" --out "$work/train.h5" >/dev/null
  "$bin" gen-data --kind heteroscedastic --n 2000 --seed $((seed + 100)) --out "$work/cal.h5" >/dev/null
  "$bin" gen-data --kind heteroscedastic --n 4000 --seed $((seed + 200)) --out "$work/test.h5" >/dev/null
  for loss in mse gaussian-nll; do
    "$bin" train --data.train "$work/train.h5" --loss $loss --epochs "$epochs" --batch-size 128 --model.widths 64,64 \
      --ensemble.members "$members" --seed "$seed" --run-dir "$work/$loss" --quiet >/dev/null
  done
  "$bin" predict --checkpoint "$work/mse" --data "$work/test.h5" --out "$work/p.h5" >"$work/naive.log"
  "$bin" predict --checkpoint "$work/gaussian-nll" --data "$work/test.h5" --out "$work/p.h5" >"$work/mix.log"
  "$bin" predict --checkpoint "$work/gaussian-nll" --data "$work/test.h5" --out "$work/p.h5" \
    --uq.calibrate conformal --uq.calibration-data "$work/cal.h5" >"$work/conf.log"
  printf "%-5s %10.4f %10.4f %10.4f %10.4f %10.4f %10.4f %8.4f\n" "$seed" \
    "$(attr coverage_0.95 "$work/naive.log")" "$(attr width_0.95 "$work/naive.log")" \
    "$(attr coverage_0.95 "$work/mix.log")" "$(attr width_0.95 "$work/mix.log")" \
    "$(attr coverage_0.95 "$work/conf.log")" "$(attr width_0.95 "$work/conf.log")" "$(attr nll "$work/mix.log")"
done
echo
fi

if [[ $parts == *throughput* ]]; then
"$bin" gen-data --kind heteroscedastic --n 16384 --out "$work/t.h5" >/dev/null
printf "%-8s %14s %10s\n" groups members/hour seconds
for groups in 1 2 4; do
  line=$(mpirun -np 4 --oversubscribe --bind-to none "$bin" train --data.train "$work/t.h5" --epochs 4 --batch-size 64 \
    --model.widths 256,256 --threads 1 --ensemble.members 8 --groups $groups --run-dir "$work/g$groups" --quiet | tail -1)
  printf "%-8s %14s %10s\n" "$groups" "$(sed -n 's/.*, \([0-9.]*\) members\/hour.*/\1/p' <<<"$line")" \
    "$(sed -n 's/.* | \([0-9.]*\) s, .*/\1/p' <<<"$line")"
done
echo
fi

[[ $parts == *concurrent* ]] || exit 0
"$bin" gen-data --kind physics19 --n 16384 --out "$work/p.h5" >/dev/null
now() { date +%s.%N; }
common=(--data.train "$work/p.h5" --epochs 8 --batch-size 64 --threads 1 --quiet)
t0=$(now); "$bin" train "${common[@]}" --model.widths 256,256 --run-dir "$work/a" >/dev/null
t1=$(now); "$bin" train "${common[@]}" --model.widths 128,128,128 --run-dir "$work/b" >/dev/null
t2=$(now)
printf '[models.a]\ntype = mlp\nwidths = 256,256\n[models.b]\ntype = mlp\nwidths = 128,128,128\n' >"$work/m.ini"
mpirun -np 2 --bind-to none "$bin" train --config "$work/m.ini" "${common[@]}" --groups 2 --run-dir "$work/ab" >/dev/null
t3=$(now)
awk -v a="$(echo "$t1 - $t0" | bc)" -v b="$(echo "$t2 - $t1" | bc)" -v ab="$(echo "$t3 - $t2" | bc)" 'BEGIN {
  printf "two models: alone %.1f s + %.1f s = %.1f s; at once (2 groups of 1 rank) %.1f s (%.2f of the sum)\n", a, b, a + b, ab, ab / (a + b)
  if (ab >= a + b) print "WARNING: the two models did not run concurrently" }'
