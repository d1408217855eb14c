#pragma once
// Argument checks of the public Backend methods (kernels/backend.cpp), shared by every backend: each
// op is validated once, before its *_impl, and the message names the kernel and the mismatch. Checks
// look at shapes, dtypes and devices only; values in device memory (ids, labels, lengths, indices)
// are checked by the ops themselves.
#include <cstdint>

#include "core/error.hpp"
#include "core/tensor.hpp"

namespace hpct::kernels::validate {

// Rows of a matrix view: the product of the leading dimensions. (Tensor::rows() is numel / cols, which
// says 0 rows for a [3, 0] tensor; gemm needs 3 there, for an empty inner dimension.)
inline std::int64_t matrix_rows(const Tensor& t) {
  std::int64_t r = 1;
  for (int i = 0; i + 1 < t.rank(); ++i) r *= t.shape[i];
  return r;
}

// The checks of one call: k names the kernel, dev is the backend's device.
struct Checker {
  const char* k;
  Device dev;

  // t has data (or no elements) and lives on the backend's device.
  void on_device(const char* what, const Tensor& t) const {
    HPCT_CHECK(t.device == dev, k, ": ", what, " is on ", t.device.str(), ", the ", dev.str(),
               " backend needs its own memory");
    has_data(what, t);
  }
  void has_data(const char* what, const Tensor& t) const {
    HPCT_CHECK(t.data != nullptr || t.numel() == 0, k, ": ", what, " ", t.shape.str(), " has no data");
  }
  // A floating-point tensor on the device.
  void floating(const char* what, const Tensor& t) const {
    on_device(what, t);
    HPCT_CHECK(is_float(t.dtype), k, ": ", what, " must be a floating-point tensor, got ", name_of(t.dtype));
  }
  // A tensor of dtype `want` on the device.
  void typed(const char* what, const Tensor& t, DType want) const {
    on_device(what, t);
    HPCT_CHECK(t.dtype == want, k, ": ", what, " must be ", name_of(want), ", got ", name_of(t.dtype));
  }
  // A tensor of dtype `want` with n elements on the device (a device scalar, a loss accumulator).
  void typed_numel(const char* what, const Tensor& t, DType want, std::int64_t n) const {
    typed(what, t, want);
    HPCT_CHECK(t.numel() == n, k, ": ", what, " ", t.shape.str(), " has ", t.numel(), " elements, expected ", n);
  }
  // Per-sequence lengths: empty, or i32 [batch].
  void lengths(const Tensor& t, std::int64_t batch) const {
    if (t.empty()) return;
    typed("lengths", t, DType::i32);
    HPCT_CHECK(t.numel() == batch, k, ": lengths ", t.shape.str(), " has ", t.numel(), " elements, expected ", batch,
               " (one per sequence)");
  }
  // Row keys (dropout, attention dropout, normal_fill): empty, or i64 [N] with N >= 1 dividing the
  // `numel` elements keyed (rows of numel / N elements).
  void row_ids(const Tensor& t, std::int64_t numel) const {
    if (t.empty()) return;
    typed("row_ids", t, DType::i64);
    HPCT_CHECK(t.rank() == 1 && t.numel() >= 1 && numel % t.numel() == 0, k, ": row_ids ", t.shape.str(),
               " must be [N] with N dividing the ", numel, " elements (one id per batch row)");
  }

  void same_dtype(const char* what_a, const Tensor& a, const char* what_b, const Tensor& b) const {
    HPCT_CHECK(a.dtype == b.dtype, k, ": dtypes differ: ", what_a, " is ", name_of(a.dtype), ", ", what_b, " is ",
               name_of(b.dtype));
  }
  void same_shape(const char* what_a, const Tensor& a, const char* what_b, const Tensor& b) const {
    HPCT_CHECK(a.shape == b.shape, k, ": shapes differ: ", what_a, " is ", a.shape.str(), ", ", what_b, " is ",
               b.shape.str());
  }
  void same_numel(const char* what_a, const Tensor& a, const char* what_b, const Tensor& b) const {
    HPCT_CHECK(a.numel() == b.numel(), k, ": sizes differ: ", what_a, " ", a.shape.str(), " has ", a.numel(),
               " elements, ", what_b, " ", b.shape.str(), " has ", b.numel());
  }
  // A float tensor b of a's dtype and shape.
  void like(const char* what_a, const Tensor& a, const char* what_b, const Tensor& b) const {
    floating(what_b, b);
    same_dtype(what_a, a, what_b, b);
    same_shape(what_a, a, what_b, b);
  }
  // A float tensor b of a's dtype and element count (flat ranges).
  void flat_like(const char* what_a, const Tensor& a, const char* what_b, const Tensor& b) const {
    floating(what_b, b);
    same_dtype(what_a, a, what_b, b);
    same_numel(what_a, a, what_b, b);
  }
  // A float tensor v of a's dtype with n elements (a per-row or per-column vector).
  void vector(const char* what_a, const Tensor& a, const char* what_v, const Tensor& v, std::int64_t n,
              const char* n_means) const {
    floating(what_v, v);
    same_dtype(what_a, a, what_v, v);
    count(what_a, a, what_v, v, n, n_means);
  }
  // v (of dtype `want`, fixed by a's dtype: layernorm statistics, optimizer state) with n elements.
  void vector_of(const char* what_a, const Tensor& a, const char* what_v, const Tensor& v, DType want,
                 std::int64_t n, const char* n_means) const {
    on_device(what_v, v);
    HPCT_CHECK(v.dtype == want, k, ": ", what_v, " must be ", name_of(want), " for ", name_of(a.dtype), " ", what_a,
               ", got ", name_of(v.dtype));
    count(what_a, a, what_v, v, n, n_means);
  }

 private:
  void count(const char* what_a, const Tensor& a, const char* what_v, const Tensor& v, std::int64_t n,
             const char* n_means) const {
    HPCT_CHECK(v.numel() == n, k, ": ", what_v, " ", v.shape.str(), " has ", v.numel(), " elements, expected ", n,
               " (", n_means, " of ", what_a, " ", a.shape.str(), ")");
  }
};

}  // namespace hpct::kernels::validate
