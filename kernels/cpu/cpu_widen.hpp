#pragma once
// 16-bit storage on the CPU, which has no 16-bit arithmetic: an op whose float tensors are bf16 or f16
// runs its f32 kernel on widened copies. widen16 converts the 16-bit inputs to f32 scratch, calls the
// kernel on f32 views, and rounds the outputs back (to nearest-even) on store, so a 16-bit tensor holds
// what a GPU computing in f32 registers would have stored. Tensors that are not 16-bit (f64 scalars,
// f32 layernorm statistics, integer ids, empty optional tensors) pass through unchanged.
//
//   if (cpu::widen16(scratch_, threads_, [&](const Tensor& y, const Tensor& b) { CpuBackend::bias_add_impl(y, b); },
//                    cpu::inout(y), cpu::in(bias)))
//     return;
//
// Internal to the CPU backend, like cpu_common.hpp.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/allocator.hpp"
#include "core/half.hpp"
#include "core/tensor.hpp"
#include "kernels/cpu/cpu_common.hpp"

namespace hpct::kernels::cpu {

// ---- element conversions --------------------------------------------------------------------------

template <class T>
constexpr bool is_16bit = std::is_same_v<T, bf16> || std::is_same_v<T, f16>;

// The value of a stored element in arithmetic precision: float for 16-bit and f32, double for f64.
inline float widen(bf16 h) { return to_float(h); }
inline float widen(f16 h) { return to_float(h); }
inline float widen(float x) { return x; }
inline double widen(double x) { return x; }

// d rounded to float toward zero with the last bit set when inexact ("round to odd"): rounding that
// float to a 16-bit type (nearest-even) then gives the correctly rounded 16-bit value of d, which the
// two plain roundings d -> float -> 16-bit do not always (a double just above a 16-bit tie).
inline float round_to_odd(double d) {
  float f = static_cast<float>(d);
  if (std::isnan(d) || static_cast<double>(f) == d) return f;
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) f = std::nextafter(f, 0.0f);
  return bits_float(float_bits(f) | 1u);
}

// Stores v in T, rounding to nearest-even.
template <class T>
T narrow(float v);
template <>
inline float narrow<float>(float v) { return v; }
template <>
inline bf16 narrow<bf16>(float v) { return to_bf16(v); }
template <>
inline f16 narrow<f16>(float v) { return to_f16(v); }
template <class T>
T narrow_double(double v) {
  if constexpr (std::is_same_v<T, double>) return v;
  else if constexpr (std::is_same_v<T, float>) return static_cast<float>(v);
  else return narrow<T>(round_to_odd(v));
}

// s converted to D: widened exactly, or rounded once to nearest-even.
template <class D, class S>
D convert(S s) {
  if constexpr (std::is_same_v<S, D>) return s;
  else if constexpr (std::is_same_v<S, double>) return narrow_double<D>(s);
  else if constexpr (std::is_same_v<D, double>) return static_cast<double>(widen(s));
  else return narrow<D>(widen(s));
}

// Calls f(T{}) for the storage dtypes of float tensors: f32, f64, bf16, f16.
template <class F>
decltype(auto) dispatch_storage(const char* kernel, DType dtype, F&& f) {
  switch (dtype) {
    case DType::f32: return f(float{});
    case DType::f64: return f(double{});
    case DType::bf16: return f(bf16{});
    case DType::f16: return f(f16{});
    default: break;
  }
  fail(kernel, ": dtype ", name_of(dtype), " is not a floating-point dtype");
}

// ---- scratch --------------------------------------------------------------------------------------

// Host blocks reused across calls (a backend's widened copies): take() hands out a block of at least
// the asked size, which returns to the pool when the Block goes. Thread-safe: the asynchronous backend
// runs ops of several streams at once.
class ScratchPool {
 public:
  class Block {
   public:
    Block(ScratchPool* pool, float* data, std::size_t floats) : pool_(pool), data_(data), floats_(floats) {}
    ~Block() {
      if (data_) pool_->give_back(data_, floats_);
    }
    Block(const Block&) = delete;
    Block& operator=(const Block&) = delete;
    float* data() const { return data_; }

   private:
    ScratchPool* pool_;
    float* data_;
    std::size_t floats_;
  };

  ScratchPool() = default;
  ScratchPool(const ScratchPool&) = delete;
  ScratchPool& operator=(const ScratchPool&) = delete;
  ~ScratchPool() {
    for (const auto& [p, n] : free_) host_allocator().deallocate(p);
  }

  // The smallest free block that is large enough, else a new one (the largest free block, too small,
  // is released first, so the pool holds at most one block per concurrent user).
  Block take(std::size_t floats) {
    {
      const std::lock_guard<std::mutex> lock(mu_);
      std::size_t best = free_.size();
      for (std::size_t i = 0; i < free_.size(); ++i)
        if (free_[i].second >= floats && (best == free_.size() || free_[i].second < free_[best].second)) best = i;
      if (best < free_.size()) {
        const auto block = free_[best];
        free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
        return Block(this, block.first, block.second);
      }
      if (!free_.empty()) {
        host_allocator().deallocate(free_.back().first);
        free_.pop_back();
      }
    }
    return Block(this, static_cast<float*>(host_allocator().allocate(floats * sizeof(float))), floats);
  }

 private:
  void give_back(float* p, std::size_t floats) {
    const std::lock_guard<std::mutex> lock(mu_);
    free_.emplace_back(p, floats);
  }
  std::mutex mu_;
  std::vector<std::pair<float*, std::size_t>> free_;
};

// ---- widening -------------------------------------------------------------------------------------

enum class Use { in, out, inout };
struct Wide {
  const Tensor& t;
  Use use;
};
inline Wide in(const Tensor& t) { return {t, Use::in}; }
inline Wide out(const Tensor& t) { return {t, Use::out}; }
inline Wide inout(const Tensor& t) { return {t, Use::inout}; }

// dst[0, n) = src[0, n) widened (from) or rounded (to) between f32 and the 16-bit dtype of t.
void widen_to_f32(int threads, const Tensor& t, float* dst);
void narrow_from_f32(int threads, const float* src, const Tensor& t);

// When any of args is a 16-bit tensor: runs f on f32 views of args (the others unchanged) and returns
// true; else returns false and does nothing. Tensors of one address share one copy (an output that
// aliases an input), read when any of them is an input and stored when any is an output.
template <class F, class... W>
bool widen16(ScratchPool& pool, int threads, F&& f, const W&... args) {
  constexpr std::size_t n = sizeof...(W);
  const std::array<const Wide*, n> a{&args...};
  const auto half = [&](std::size_t i) { return is_half(a[i]->t.dtype) && !a[i]->t.empty(); };
  bool any = false;
  for (std::size_t i = 0; i < n; ++i) any = any || half(i);
  if (!any) return false;
  // first[i]: the first argument with i's address; offset[i]: where its copy starts in the block.
  std::array<std::size_t, n> first{}, offset{};
  bool read[n] = {}, write[n] = {};
  std::size_t total = 0;
  for (std::size_t i = 0; i < n; ++i) {
    first[i] = i;
    if (!half(i)) continue;
    for (std::size_t j = 0; j < i; ++j)
      if (half(j) && a[j]->t.data == a[i]->t.data) {
        first[i] = first[j];
        break;
      }
    if (first[i] == i) {
      offset[i] = total;
      total += (static_cast<std::size_t>(a[i]->t.numel()) + 15) / 16 * 16;  // 64-byte aligned copies
    }
    read[first[i]] = read[first[i]] || a[i]->use != Use::out;
    write[first[i]] = write[first[i]] || a[i]->use != Use::in;
  }
  const ScratchPool::Block block = pool.take(total);
  std::array<Tensor, n> wide;
  for (std::size_t i = 0; i < n; ++i) {
    const Tensor& t = a[i]->t;
    wide[i] = half(i) ? Tensor(block.data() + offset[first[i]], t.shape, DType::f32, t.device) : t;
  }
  for (std::size_t i = 0; i < n; ++i)
    if (half(i) && first[i] == i && read[i]) widen_to_f32(threads, a[i]->t, wide[i].template ptr<float>());
  std::apply(f, wide);
  for (std::size_t i = 0; i < n; ++i)
    if (half(i) && first[i] == i && write[i]) narrow_from_f32(threads, wide[i].template ptr<float>(), a[i]->t);
  return true;
}

}  // namespace hpct::kernels::cpu
