#pragma once
// Activations over a span, one inner loop per activation, for the activation kernels and the gemm
// epilogue that applies one to each tile while it is in cache.
#include <cstdint>
#include <type_traits>

#include "kernels/common/math.hpp"
#include "kernels/cpu/cpu_common.hpp"
#include "kernels/cpu/cpu_vmath.hpp"
#include "kernels/kernels.hpp"

namespace hpct::kernels::cpu {

using math::with_activation;  // kernels/common/math.hpp

// Elements per parallel block: the cheap activations are memory-bound, the others do math.
constexpr std::int64_t activation_grain(Activation f) {
  return f == Activation::identity || f == Activation::relu ? kGrainCheap : kGrainMath;
}

// One compiled copy of each loop (noinline) serves every caller: inlined copies may vectorise
// differently (which elements the scalar remainder takes, which products become FMAs), and their last
// bits would then depend on the thread count that picked the caller.
// y[i] = f(x[i]) for i < n; y may alias x.
template <Activation A, class T>
[[gnu::noinline]] void activate_span(const T* x, T* y, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) y[i] = math::activate<A, T, CpuOps>(x[i]);
}

// dx[i] = dy[i] f'(x[i]) for i < n; dx may alias dy.
template <Activation A, class T>
[[gnu::noinline]] void activate_grad_span(const T* x, const T* dy, T* dx, std::int64_t n) {
  // ReLU's select vectorises (compare, mask); its product dy * (x > 0 ? 1 : 0) compiled to a scalar
  // loop with a branch on the sign of x, mispredicted at random: 13% of a small MLP's step.
  for (std::int64_t i = 0; i < n; ++i) dx[i] = math::activation_backward_value<A, T, CpuOps>(x[i], dy[i]);
}

}  // namespace hpct::kernels::cpu
