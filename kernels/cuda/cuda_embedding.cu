// CudaBackend: token embedding lookup and tabular feature tokens, with their backward. No float atomics:
// every gradient element is summed by one thread in a fixed order, so the bits do not change between
// runs. The embedding's backward sorts the positions by id (a stable radix sort keeps each id's
// positions in order) and gives each run of equal ids to one block: dtable[v, c] receives its terms in
// position order, as the CPU's.
#include <cstdint>
#include <cub/device/device_radix_sort.cuh>

#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_common.cuh"

namespace hpct::kernels::cuda {
namespace {

// out[p, c] = table[ids[p], c] (any dtype: rows copied as words); an id outside [0, vocab) is reported and
// its row left unwritten.
template <class W>
__global__ void embedding_forward_kernel(const std::int32_t* ids, const W* table, W* out, std::int64_t positions,
                                         std::int64_t width, std::int64_t vocab, DeviceError* err) {
  HPCT_GRID_LOOP(e, positions * width) {
    const std::int64_t p = e / width, c = e % width, v = ids[p];
    if (v < 0 || v >= vocab) {
      if (c == 0) err->report(DeviceError::id_out_of_range, p, v, vocab);
      continue;
    }
    out[e] = table[v * width + c];
  }
}

// order[p] = p (the sort's values), and the ids checked.
__global__ void embedding_order_kernel(const std::int32_t* ids, std::int32_t* order, std::int64_t positions,
                                       std::int64_t vocab, DeviceError* err) {
  HPCT_GRID_LOOP(p, positions) {
    const std::int32_t v = ids[p];
    if (v < 0 || v >= vocab) err->report(DeviceError::id_out_of_range, p, v, vocab);
    order[p] = static_cast<std::int32_t>(p);
  }
}

// Block s starts at sorted position s; only the first position of each run of equal ids works: it adds
// dout of the run's positions (ascending) into its row of dtable, columns across the threads.
template <class T>
__global__ void embedding_backward_kernel(const std::int32_t* sorted_ids, const std::int32_t* order, const T* dout,
                                          T* dtable, std::int64_t positions, std::int64_t width, std::int64_t vocab) {
  const std::int64_t s = blockIdx.x;
  const std::int32_t v = sorted_ids[s];
  if ((s > 0 && sorted_ids[s - 1] == v) || v < 0 || v >= vocab) return;
  T* row = dtable + static_cast<std::int64_t>(v) * width;
  for (std::int64_t c = threadIdx.x; c < width; c += blockDim.x) {
    acc_t<T> acc = load(row[c]);
    for (std::int64_t t = s; t < positions && sorted_ids[t] == v; ++t)
      acc += load(dout[static_cast<std::int64_t>(order[t]) * width + c]);
    row[c] = store<T>(acc);
  }
}

// out[n, f, c] = x[n, f] w[f, c] + b[f, c]
template <class T>
__global__ void feature_tokens_forward_kernel(const T* x, const T* w, const T* b, T* out, std::int64_t total,
                                              std::int64_t features, std::int64_t width) {
  using Acc = acc_t<T>;
  HPCT_GRID_LOOP(e, total) {
    const std::int64_t fc = e % (features * width), nf = e / width;
    out[e] = store<T>(static_cast<Acc>(load(x[nf])) * static_cast<Acc>(load(w[fc])) + static_cast<Acc>(load(b[fc])));
  }
}

// dx[n, f] = dot(dout[n, f, :], w[f, :]): one block per (n, f), summed in double.
template <class T>
__global__ void feature_tokens_dx_kernel(const T* w, const T* dout, T* dx, std::int64_t features, std::int64_t width) {
  const std::int64_t nf = blockIdx.x, f = nf % features;
  double s = 0.0;
  for (std::int64_t c = threadIdx.x; c < width; c += blockDim.x)
    s += static_cast<double>(load(dout[nf * width + c])) * static_cast<double>(load(w[f * width + c]));
  s = block_sum(s);
  if (threadIdx.x == 0) dx[nf] = store<T>(s);
}

// dw[f, c] += sum_n x[n, f] dout[n, f, c]; db[f, c] += sum_n dout[n, f, c]: a thread per (f, c), the
// samples in order, in double.
template <class T>
__global__ void feature_tokens_dw_kernel(const T* x, const T* dout, T* dw, T* db, std::int64_t samples,
                                         std::int64_t features, std::int64_t width) {
  HPCT_GRID_LOOP(fc, features * width) {
    const std::int64_t f = fc / width;
    double sw = 0.0, sb = 0.0;
    for (std::int64_t n = 0; n < samples; ++n) {
      const auto g = static_cast<double>(load(dout[n * features * width + fc]));
      sw += static_cast<double>(load(x[n * features + f])) * g;
      sb += g;
    }
    dw[fc] = store<T>(static_cast<double>(load(dw[fc])) + sw);
    db[fc] = store<T>(static_cast<double>(load(db[fc])) + sb);
  }
}

}  // namespace

void CudaBackend::embedding_forward_impl(const Tensor& ids, const Tensor& table, const Tensor& out) {
  const std::int64_t positions = ids.numel(), width = table.cols();
  if (positions == 0 || width == 0) return;
  dispatch_word(size_of(table.dtype), [&](auto w) {
    using W = decltype(w);
    embedding_forward_kernel<W><<<grid_for(positions * width, sm_count()), kThreads, 0, cur()>>>(
        ids.ptr<std::int32_t>(), static_cast<const W*>(table.data), static_cast<W*>(out.data), positions, width,
        table.dim(0), device_error());
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::embedding_backward_impl(const Tensor& ids, const Tensor& dout, const Tensor& dtable) {
  const std::int64_t positions = ids.numel(), width = dtable.cols(), vocab = dtable.dim(0);
  if (positions == 0 || width == 0) return;
  HPCT_CHECK(positions <= INT32_MAX, "embedding_backward: ", positions, " positions exceed the sort's 2^31 - 1");
  const int n = static_cast<int>(positions);
  // cub's sort: the temporary storage size first, then one scratch block for everything.
  std::size_t temp_bytes = 0;
  HPCT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(
      nullptr, temp_bytes, static_cast<const std::int32_t*>(nullptr), static_cast<std::int32_t*>(nullptr),
      static_cast<const std::int32_t*>(nullptr), static_cast<std::int32_t*>(nullptr), n, 0, 32, cur()));
  const std::size_t ints = static_cast<std::size_t>(positions) * sizeof(std::int32_t);
  const std::size_t align = 256, slot = (ints + align - 1) / align * align;
  const Scratch scratch(3 * slot + temp_bytes, cur());
  auto* base = scratch.as<unsigned char>();
  auto* order = reinterpret_cast<std::int32_t*>(base);
  auto* sorted_ids = reinterpret_cast<std::int32_t*>(base + slot);
  auto* sorted_order = reinterpret_cast<std::int32_t*>(base + 2 * slot);
  embedding_order_kernel<<<grid_for(positions, sm_count()), kThreads, 0, cur()>>>(ids.ptr<std::int32_t>(), order,
                                                                                  positions, vocab, device_error());
  HPCT_CUDA_LAUNCH_CHECK();
  HPCT_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(base + 3 * slot, temp_bytes, ids.ptr<std::int32_t>(), sorted_ids,
                                                  order, sorted_order, n, 0, 32, cur()));
  dispatch_float("embedding_backward", dtable.dtype, [&](auto z) {
    using T = decltype(z);
    embedding_backward_kernel<T><<<static_cast<unsigned>(positions), row_threads(width), 0, cur()>>>(
        sorted_ids, sorted_order, dout.ptr<T>(), dtable.ptr<T>(), positions, width, vocab);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::feature_tokens_forward_impl(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& out) {
  const std::int64_t total = out.numel();
  if (total == 0) return;
  dispatch_float("feature_tokens_forward", x.dtype, [&](auto z) {
    using T = decltype(z);
    feature_tokens_forward_kernel<T><<<grid_for(total, sm_count()), kThreads, 0, cur()>>>(
        x.ptr<T>(), w.ptr<T>(), b.ptr<T>(), out.ptr<T>(), total, x.dim(1), w.dim(1));
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

void CudaBackend::feature_tokens_backward_impl(const Tensor& x, const Tensor& w, const Tensor& dout, const Tensor& dx,
                                               const Tensor& dw, const Tensor& db) {
  const std::int64_t samples = x.dim(0), features = x.dim(1), width = w.dim(1);
  if (samples * features == 0 || width == 0) return;
  dispatch_float("feature_tokens_backward", x.dtype, [&](auto z) {
    using T = decltype(z);
    if (!dx.empty()) {
      feature_tokens_dx_kernel<T><<<static_cast<unsigned>(samples * features), row_threads(width), 0, cur()>>>(
          w.ptr<T>(), dout.ptr<T>(), dx.ptr<T>(), features, width);
      HPCT_CUDA_LAUNCH_CHECK();
    }
    feature_tokens_dw_kernel<T><<<grid_for(features * width, sm_count()), kThreads, 0, cur()>>>(
        x.ptr<T>(), dout.ptr<T>(), dw.ptr<T>(), db.ptr<T>(), samples, features, width);
  });
  HPCT_CUDA_LAUNCH_CHECK();
}

}  // namespace hpct::kernels::cuda
