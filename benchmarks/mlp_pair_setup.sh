# Sourced by ddp_scaling.sh and zero_bench.sh (run from the repository root): the binary of BUILD_DIR
# ($1, default build) in $bin, REPEATS in $repeats, a scratch folder $work (removed at exit) holding the
# two data sets both measure, small.h5 (65536 rows, the default MLP) and wide.h5 (8192 rows, the 4.2M
# MLP), and median (of numbers on stdin).
bin=$(realpath "${1:-build}/hpctrain")
repeats=${REPEATS:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" gen-data --kind heteroscedastic --n 65536 --out "$work/small.h5" >/dev/null
"$bin" gen-data --kind heteroscedastic --n 8192 --out "$work/wide.h5" >/dev/null
median() { sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
