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

// Calls body(std::integral_constant<Activation, f>{}) so each activation gets its own inner loop.
template <class F>
void with_activation(Activation f, F&& body) {
  using A = Activation;
  switch (f) {
    case A::identity: body(std::integral_constant<A, A::identity>{}); return;
    case A::relu: body(std::integral_constant<A, A::relu>{}); return;
    case A::gelu_tanh: body(std::integral_constant<A, A::gelu_tanh>{}); return;
    case A::gelu_exact: body(std::integral_constant<A, A::gelu_exact>{}); return;
    case A::tanh: body(std::integral_constant<A, A::tanh>{}); return;
    case A::silu: body(std::integral_constant<A, A::silu>{}); return;
  }
  fail("invalid Activation value ", static_cast<int>(f));
}

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
  for (std::int64_t i = 0; i < n; ++i) dx[i] = dy[i] * math::activate_grad<A, T, CpuOps>(x[i]);
}

}  // namespace hpct::kernels::cpu
