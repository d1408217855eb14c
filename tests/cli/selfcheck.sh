# hpctrain selfcheck: a pass/fail table; cpu-async against cpu bit for bit at every precision; the GPU
# checks say "skipped: no GPU" where none is usable (and pass where one is); exit 0; under mpirun one
# table, every rank checked.
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

"$HPCTRAIN" selfcheck >sc.log || die "selfcheck failed: $(cat sc.log)"
cat sc.log
grep -q '^check  *result  *detail$' sc.log || die "no table header"
for t in float32 bfloat16 float16; do
  grep -Eq "^kernels cpu-async vs cpu, $t +pass +largest difference 0 " sc.log || die "cpu-async $t not exact"
done
grep -Eq "^training cpu-async vs cpu, 20 steps +pass +loss [0-9.e-]+ vs [0-9.e-]+ \(relative difference 0, .* differ by 0 of" sc.log ||
  die "20 training steps on cpu-async not exact: $(grep '^training' sc.log)"
pass "cpu-async = cpu, bit for bit, in f32, bf16 and f16 kernels and 20 training steps"
if "$GPU_PROBE" >/dev/null 2>&1; then
  [[ $(grep -Ec '^kernels cuda vs cpu, [a-z0-9]+ +pass ' sc.log) -eq 3 ]] || die "cuda kernels: $(cat sc.log)"
  grep -Eq '^training cuda vs cpu, 20 steps +pass +loss ' sc.log || die "cuda training: $(cat sc.log)"
  pass "cuda kernels and a 20-step training run agree with cpu"
else
  [[ $(grep -Ec '^kernels cuda vs cpu, [a-z0-9]+ +skipped: no GPU ' sc.log) -eq 3 ]] || die "GPU checks not skipped visibly"
  grep -Eq '^training cuda vs cpu, 20 steps +skipped: no GPU +[^ ]' sc.log || die "training check not skipped visibly"
  grep -Eq '^NCCL allreduce bus bandwidth +skipped: no GPU' sc.log || die "NCCL check not skipped visibly"
  pass "without a GPU every GPU check says 'skipped: no GPU'"
fi
grep -q '^selfcheck: all checks passed or skipped$' sc.log || die "no verdict"

mpirun=${MPIRUN:-mpirun}
"$mpirun" -np 2 --oversubscribe "$HPCTRAIN" selfcheck >sc2.log || die "selfcheck on 2 ranks failed: $(cat sc2.log)"
[[ $(grep -c '^selfcheck: ' sc2.log) -eq 1 ]] || die "not one verdict: $(cat sc2.log)"
grep -q '^rank 0 of 2:$' sc2.log || die "no rank header: $(cat sc2.log)"
pass "on 2 ranks: one table, exit 0"
finish
