# hpctrain info --system: the --version text (CPU, BLAS kernel, libraries), the CUDA libraries and GPUs
# ("no GPU visible" and why, on a machine without one), and under mpirun the rank -> node -> GPU map;
# --dist.backend is checked by name (nccl needs --device cuda).
source "$(dirname "$0")/../lib.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

"$HPCTRAIN" info --system >sys.log
grep -q '^hpctrain ' sys.log || die "no version line: $(cat sys.log)"
grep -q '^OpenBLAS: .*(core ' sys.log || die "no BLAS kernel line: $(cat sys.log)"
grep -q '^GPUs: ' sys.log || die "no GPUs line: $(cat sys.log)"
if "$GPU_PROBE" >/dev/null 2>&1; then
  grep -q '^  GPU 0: .*compute capability' sys.log || die "a GPU is usable but not listed: $(cat sys.log)"
  pass "info --system lists the GPUs: $(grep -m1 '^  GPU 0' sys.log)"
else
  grep -q '^GPUs: no GPU visible (' sys.log || die "no GPU here, not said clearly: $(cat sys.log)"
  pass "info --system says: $(grep '^GPUs' sys.log)"
fi
if grep -q '^CUDA runtime ' sys.log; then
  grep -Eq '^CUDA runtime [0-9]+\.[0-9]+, driver [^,]+, cuBLASLt [0-9.]+, cuDNN [0-9.]+, NCCL [0-9.]+$' sys.log ||
    die "CUDA library line malformed: $(grep '^CUDA runtime' sys.log)"
  pass "library versions: $(grep '^CUDA runtime' sys.log)"
  # The CUDA backend is a plugin (kernels/cuda_plugin.hpp): the program links no CUDA library, so a CPU
  # run never loads them; info --system loads the plugin and says from where.
  grep -q '^CUDA backend: loaded from .*/libhpctrain_cuda\.so$' sys.log || die "no plugin line: $(cat sys.log)"
  ! ldd "$HPCTRAIN" | grep -E 'libcublas|libcudnn|libnccl|libcudart' || die "the program links CUDA libraries itself"
  pass "$(grep '^CUDA backend' sys.log); the program links no CUDA library"
  HPCTRAIN_CUDA_PLUGIN=/nonexistent/libhpctrain_cuda.so "$HPCTRAIN" info --system >noplugin.log
  grep -q '^CUDA: the CUDA backend /nonexistent/libhpctrain_cuda.so could not be loaded: ' noplugin.log ||
    die "a missing plugin is not named: $(cat noplugin.log)"
  HPCTRAIN_CUDA_PLUGIN=/nonexistent/libhpctrain_cuda.so "$HPCTRAIN" gen-data --kind heteroscedastic --n 300 \
    --out p.h5 >/dev/null
  HPCTRAIN_CUDA_PLUGIN=/nonexistent/libhpctrain_cuda.so "$HPCTRAIN" train --data.train p.h5 --epochs 1 \
    --run-dir rp --quiet >/dev/null || die "a CPU run needs the CUDA plugin"
  pass "without its plugin: info --system names it, and a CPU run trains"
  grep -Eq '^cuDNN SDPA: (frontend [0-9]+\.[0-9]+\.[0-9]+|not built \(no cuDNN frontend headers)' sys.log ||
    die "no cuDNN SDPA line: $(cat sys.log)"
  pass "$(grep '^cuDNN SDPA' sys.log)"
else
  grep -q '^CUDA: this hpctrain was built without the CUDA backend' sys.log || die "no CUDA line: $(cat sys.log)"
  pass "a build without CUDA says so"
fi
grep -q "^  rank 0: node $(hostname), local rank 0, " sys.log || die "no rank map: $(cat sys.log)"
pass "rank map of one process"

mpirun=${MPIRUN:-mpirun}
"$mpirun" -np 2 --oversubscribe "$HPCTRAIN" info --system >sys2.log
grep -q '^ranks: 2 on 1 node(s)$' sys2.log || die "2 ranks not counted: $(cat sys2.log)"
grep -q "^  rank 1: node $(hostname), local rank 1, " sys2.log || die "rank 1 missing: $(cat sys2.log)"
[[ $(grep -c '^GPUs: ' sys2.log) -eq 1 ]] || die "printed more than once: $(cat sys2.log)"
pass "under mpirun: one report, every rank's node and GPU"

expect_fail "info --system takes no file" "$HPCTRAIN" info x.h5 --system

"$HPCTRAIN" gen-data --config "$HPCTRAIN_SOURCE/configs/default-data.ini" --n 64 --out d.h5 >/dev/null
expect_fail "option --dist.backend: expected auto, mpi or nccl, got 'gloo'" "$HPCTRAIN" train --data.train d.h5 \
  --device cpu --dist.backend gloo --epochs 1 --run-dir r
expect_fail "option --dist.backend nccl: needs --device cuda (the device is cpu)" "$HPCTRAIN" train \
  --data.train d.h5 --device cpu --dist.backend nccl --epochs 1 --run-dir r
finish
