#!/usr/bin/env bash
# Coverage of the optimal probability by a binary classifier ensemble's 95% interval (the NN_UQ
# workload, issue 16): REPS independent ensembles of MEMBERS MLP classifiers on two-gaussians
# (training, held-out calibration and test sets drawn with their own seeds). Each repetition trains
#   plain      members differing only in seed (and so in their held-out validation rows)
#   bootstrap  members on bootstrap resamples of their training rows, in pairs sharing a resample
#              (--ensemble.bootstrap --ensemble.bootstrap-pairs)
# and predicts the test set with the first SMALL and all MEMBERS members, with
#   naive      logit-scale interval from the members' spread
#   inflated   that spread times a factor fitted on the calibration set's labels (--uq.calibrate inflation)
#   pairs      bootstrap only: that spread less the seeds' noise, from the pairs (--uq.calibrate pairs)
#   bagged     bootstrap only: per row, the bagged centre's error variance (the resamples' spread plus
#              the Monte Carlo error of averaging them), Student t on P - 1 df (--uq.calibrate bagged)
# Reported per method: mean +- sd over the repetitions of the p_optimal coverage at 95%, the mean
# interval width, the MAE of the ensemble probability to p_optimal, k (bagged: the centre's sd over
# the members', pooled over the rows) and (pairs) the seeds' share of the members' logit variance.
# Goal (issue 16): 95% +- 2% with MAE <= 0.026 at 20 ensembles of 50 members.
# Usage: benchmarks/uq_coverage.sh [BUILD_DIR]; environment: REPS (20), MEMBERS (50), SMALL (20, the
# smaller ensemble), N (4000 training rows), EPOCHS (20), WIDTHS (64,64), FEATURES (8), SEPARATION (2),
# KINDS ("plain bootstrap"), CALS (the intervals, "naive inflated pairs bagged"), FIRST (1, the first
# repetition: runs split over time add up).
# Each result line is also appended to RESULTS (default: none) so that split runs can be pooled.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${1:-build}/hpctrain")
reps=${REPS:-20} members=${MEMBERS:-50} small=${SMALL:-20} n=${N:-4000} epochs=${EPOCHS:-20}
widths=${WIDTHS:-64,64} features=${FEATURES:-8} sep=${SEPARATION:-2} kinds=${KINDS:-plain bootstrap} first=${FIRST:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
attr() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$2"; }
results=$work/results.txt
start=$(date +%s)

for rep in $(seq "$first" $((first + reps - 1))); do
  gen() { "$bin" gen-data --kind two-gaussians --features "$features" --separation "$sep" --n "$1" --seed "$2" --out "$3" >/dev/null; }
  gen "$n" "$rep" "$work/train.h5"; gen 4000 $((rep + 1000)) "$work/cal.h5"; gen 10000 $((rep + 2000)) "$work/test.h5"
  for kind in $kinds; do
    extra=(); [[ $kind == bootstrap ]] && extra=(--ensemble.bootstrap --ensemble.bootstrap-pairs)
    rm -rf "$work/$kind"
    "$bin" train --data.train "$work/train.h5" --epochs "$epochs" --batch-size 128 --model.widths "$widths" --threads 1 \
      --ensemble.members "$members" --seed $((rep * 7919)) --run-dir "$work/$kind" --quiet "${extra[@]}" >/dev/null
    for m in $small $members; do
      run=$work/$kind; [[ $m == "$members" ]] || {
        run=$work/$kind-$m; rm -rf "$run"; mkdir -p "$run"   # the first m members, no ensemble.ini
        for i in $(seq 0 $((m - 1))); do ln -s "$work/$kind/member-$(printf %03d "$i")" "$run/"; done; }
      cals=${CALS:-naive inflated pairs bagged}
      for cal in $cals; do
        opts=(); [[ $cal == inflated ]] && opts=(--uq.calibrate inflation --uq.calibration-data "$work/cal.h5")
        [[ $cal == pairs || $cal == bagged ]] && { [[ $kind == bootstrap ]] || continue; opts=(--uq.calibrate "$cal"); }
        "$bin" predict --checkpoint "$run" --data "$work/test.h5" --out "$work/p.h5" --uq.levels 0.95 --threads 1 \
          "${opts[@]}" >"$work/p.log"
        echo "$kind $m $cal $(attr p_optimal_coverage_0.95 "$work/p.log") $(attr p_optimal_width_0.95 "$work/p.log")" \
          "$(attr p_optimal_mae "$work/p.log") $(sed -n 's/^logit \(inflation\|centre sd\).*: //p' "$work/p.log")" \
          "$(sed -n 's/.*seed share \([^ ]*\) .*/share=\1/p' "$work/p.log") rep$rep" >>"$results"
        [[ -z ${RESULTS:-} ]] || tail -1 "$results" >>"$RESULTS"
      done
    done
  done
  echo "repetition $rep done ($(($(date +%s) - start)) s)" >&2
done

echo "two-gaussians F=$features separation=$sep, $n training rows, $epochs epochs, widths $widths;" \
  "$reps ensembles of $members members; $(($(date +%s) - start)) s"
python3 - "${RESULTS:-$results}" <<'PY'
import sys, collections, statistics as st
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    f = line.split()
    k = [float(x) for x in f[6:] if x[0].isdigit()]
    share = [float(x[6:]) for x in f[6:] if x.startswith("share=")]
    rows[(f[0], int(f[1]), f[2])].append([float(x) for x in f[3:6]] + [k[0] if k else 1.0, share[0] if share else 0])
print(f"{'members':>7} {'training':>9} {'interval':>9} {'coverage95':>16} {'width':>7} {'mae':>7} {'k':>6} {'seed':>5} {'reps':>4}")
for (kind, m, cal), v in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0] != "plain", kv[0][2])):
    cov = [r[0] for r in v]
    sd = st.stdev(cov) if len(cov) > 1 else 0.0
    mean = lambda i: sum(r[i] for r in v) / len(v)
    print(f"{m:>7} {kind:>9} {cal:>9} {100 * mean(0):8.1f} +- {100 * sd:4.1f} {mean(1):7.4f} {mean(2):7.4f} {mean(3):6.2f} {mean(4):5.2f} {len(v):>4}")
PY
