// The conversion loops behind widen16 (cpu_widen.hpp).
#include "kernels/cpu/cpu_widen.hpp"

namespace hpct::kernels::cpu {
namespace {

template <class F>
void with_half(DType t, F&& f) {
  if (t == DType::bf16) f(bf16{});
  else if (t == DType::f16) f(f16{});
  else fail("widen16: ", name_of(t), " is not a 16-bit dtype");
}

}  // namespace

void widen_to_f32(int threads, const Tensor& t, float* dst) {
  with_half(t.dtype, [&](auto zero) {
    using H = decltype(zero);
    const H* src = t.ptr<H>();
    parallel_blocks(threads, t.numel(), kGrainCheap, [=](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) dst[i] = to_float(src[i]);
    });
  });
}

void narrow_from_f32(int threads, const float* src, const Tensor& t) {
  with_half(t.dtype, [&](auto zero) {
    using H = decltype(zero);
    H* dst = t.ptr<H>();
    parallel_blocks(threads, t.numel(), kGrainCheap, [=](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) dst[i] = narrow<H>(src[i]);
    });
  });
}

}  // namespace hpct::kernels::cpu
