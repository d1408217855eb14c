#pragma once
// A tensor shape: up to kMaxDims extents, row-major (the last dimension is contiguous).
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace hpct {

class Shape {
 public:
  static constexpr int kMaxDims = 6;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) { assign(dims.begin(), dims.end()); }
  explicit Shape(const std::vector<std::int64_t>& dims) { assign(dims.begin(), dims.end()); }

  int rank() const { return rank_; }
  std::int64_t operator[](int i) const { return dims_[i]; }
  std::int64_t& operator[](int i) { return dims_[i]; }
  std::int64_t back() const { return rank_ ? dims_[rank_ - 1] : 1; }

  std::int64_t numel() const {
    std::int64_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[i];
    return n;
  }
  std::vector<std::int64_t> vec() const { return {dims_.begin(), dims_.begin() + rank_}; }
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) s.append(i ? ", " : "").append(std::to_string(dims_[i]));
    return s + "]";
  }
  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.rank_ != b.rank_) return false;
    for (int i = 0; i < a.rank_; ++i)
      if (a.dims_[i] != b.dims_[i]) return false;
    return true;
  }

 private:
  template <class It>
  void assign(It first, It last) {
    for (; first != last; ++first) {
      HPCT_CHECK(rank_ < kMaxDims, "shape has more than ", kMaxDims, " dimensions");
      HPCT_CHECK(*first >= 0, "negative extent ", *first, " in a shape");
      dims_[rank_++] = *first;
    }
  }
  std::array<std::int64_t, kMaxDims> dims_{};
  int rank_ = 0;
};

}  // namespace hpct
