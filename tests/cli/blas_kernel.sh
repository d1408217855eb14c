# hpctrain runs OpenBLAS's kernels for the CPU it is on: on a CPU with AVX-512 an AVX-512 family, with
# AVX2 and FMA at least an AVX2 one (OpenBLAS alone falls back to SSE3 "Prescott" on CPU models it does
# not know), named in --version and the train banner; a user's OPENBLAS_CORETYPE is kept, also when
# threads are bound (OMP_PROC_BIND, which keeps hpctrain from setting the OpenMP spin count).
source "$(dirname "$0")/../lib.sh"

core() { "$@" --version | sed -n 's/^OpenBLAS: .*(core \([A-Za-z0-9]*\);.*/\1/p'; }
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { [[ " $flags " == *" $1 "* ]]; }
got=$(core "$HPCTRAIN")
[[ -n $got ]] || die "--version names no OpenBLAS core: $("$HPCTRAIN" --version)"
if has avx512f && has avx512bw && has avx512dq && has avx512vl; then
  want="SkylakeX Cooperlake SapphireRapids"
elif has avx2 && has fma; then
  want="Haswell Zen SkylakeX Cooperlake SapphireRapids"
else
  want=""
fi
if [[ -n $want ]]; then
  [[ " $want " == *" $got "* ]] || die "OpenBLAS runs $got on a CPU with $(echo "$flags" | grep -o 'avx[^ ]*' | sort -u | tr '\n' ' ')"
  pass "OpenBLAS runs $got (one of: $want)"
  got_bound=$(OMP_PROC_BIND=true core "$HPCTRAIN")
  [[ " $want " == *" $got_bound "* ]] || die "with OMP_PROC_BIND the core is $got_bound"
  pass "with OMP_PROC_BIND too: $got_bound"
else
  echo "note: this CPU has neither AVX-512 nor AVX2 with FMA: any OpenBLAS choice is right ($got)"
fi
[[ $(OPENBLAS_CORETYPE=Haswell core "$HPCTRAIN") == Haswell ]] || die "a user's OPENBLAS_CORETYPE=Haswell was not kept"
pass "a user's OPENBLAS_CORETYPE is kept"
"$HPCTRAIN" gen-data --config "$HPCTRAIN_SOURCE/configs/default-data.ini" --n 512 --out d.h5 >/dev/null
"$HPCTRAIN" train --data.train d.h5 --epochs 1 --run-dir r >train.log
grep -q "BLAS kernels $got (CPU: " train.log || die "the banner lacks the BLAS kernels: $(grep '^backend' train.log)"
pass "the train banner names the kernels"
finish
