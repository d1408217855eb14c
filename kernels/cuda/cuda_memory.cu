// CudaBackend: copy, fill, cast, gather_rows.
#include <cstdint>
#include <cstring>

#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_common.cuh"

namespace hpct::kernels::cuda {
namespace {

template <class W>
__global__ void fill_kernel(W* p, std::int64_t n, W bits) {
  HPCT_GRID_LOOP(i, n) p[i] = bits;
}

template <class S, class D>
__global__ void cast_kernel(const S* src, D* dst, std::int64_t n) {
  HPCT_GRID_LOOP(i, n) dst[i] = store<D>(load(src[i]));
}

// out[i, c] = src[index[i], c]; an index outside [0, rows) is reported and its row left unwritten.
template <class W>
__global__ void gather_kernel(const W* src, const std::int64_t* index, W* out, std::int64_t n, std::int64_t cols,
                              std::int64_t rows, DeviceError* err) {
  HPCT_GRID_LOOP(e, n * cols) {
    const std::int64_t i = e / cols, c = e % cols, r = index[i];
    if (r < 0 || r >= rows) {
      if (c == 0) err->report(DeviceError::index_out_of_range, i, r, rows);
      continue;
    }
    out[e] = src[r * cols + c];
  }
}

// value's bits in t's dtype (16-bit rounds to nearest-even, as the CPU backend).
std::uint64_t fill_bits(DType t, double value) {
  std::uint64_t bits = 0;
  const auto put = [&](auto v) { std::memcpy(&bits, &v, sizeof v); };
  switch (t) {
    case DType::f32: put(static_cast<float>(value)); break;
    case DType::f64: put(value); break;
    case DType::bf16: put(to_bf16(static_cast<float>(value)).bits); break;
    case DType::f16: put(to_f16(static_cast<float>(value)).bits); break;
    case DType::i32: put(static_cast<std::int32_t>(value)); break;
    case DType::i64: put(static_cast<std::int64_t>(value)); break;
  }
  return bits;
}

}  // namespace

// cudaMemcpyDefault: unified addressing tells host from device memory.
void CudaBackend::copy_impl(const Tensor& dst, const Tensor& src) {
  if (dst.data == src.data || dst.numel() == 0) return;
  HPCT_CUDA_CHECK(cudaMemcpyAsync(dst.data, src.data, dst.bytes(), cudaMemcpyDefault, cur()));
}

void CudaBackend::fill_impl(const Tensor& t, double value) {
  const std::int64_t n = t.numel();
  if (n == 0) return;
  const std::uint64_t bits = fill_bits(t.dtype, value);
  if (bits == 0) {
    HPCT_CUDA_CHECK(cudaMemsetAsync(t.data, 0, t.bytes(), cur()));
    return;
  }
  dispatch_word(size_of(t.dtype), [&](auto w) {
    using W = decltype(w);
    fill_kernel<W><<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(static_cast<W*>(t.data), n, static_cast<W>(bits));
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::cast_impl(const Tensor& src, const Tensor& dst) {
  const std::int64_t n = src.numel();
  if (n == 0) return;
  if (src.dtype == dst.dtype) {
    copy_impl(dst, src);
    return;
  }
  dispatch_float("cast", src.dtype, [&](auto s) {
    using S = decltype(s);
    dispatch_float("cast", dst.dtype, [&](auto d) {
      using D = decltype(d);
      cast_kernel<S, D><<<grid_for(n, sm_count()), kThreads, 0, cur()>>>(src.ptr<S>(), dst.ptr<D>(), n);
    });
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::gather_rows_impl(const Tensor& src, const Tensor& index, const Tensor& out) {
  const std::int64_t n = index.numel(), cols = src.cols();
  if (n == 0 || cols == 0) return;
  dispatch_word(size_of(src.dtype), [&](auto w) {
    using W = decltype(w);
    gather_kernel<W><<<grid_for(n * cols, sm_count()), kThreads, 0, cur()>>>(
        static_cast<const W*>(src.data), index.ptr<std::int64_t>(), static_cast<W*>(out.data), n, cols, src.rows(),
        device_error());
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace hpct::kernels::cuda
