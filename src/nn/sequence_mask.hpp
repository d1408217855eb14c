#pragma once
// Which positions of a batch of sequences [N, L, ...] are real, and whether attention is causal. A
// model passes it to the sequence layers' forward (MultiHeadAttention, TransformerBlock, MeanPool);
// they copy it, so the caller's lengths array need not outlive the call.
#include <cstdint>
#include <vector>

namespace hpct::nn {

struct SequenceMask {
  // Host [N], each in [1, L]: positions >= lengths[n] of sequence n are padding (keys there are
  // masked, mean pooling skips them). nullptr: every position is real.
  const std::int32_t* lengths = nullptr;
  bool causal = false;  // query i attends to keys j <= i only
};

// A SequenceMask's own copy of the lengths (layers keep one from forward for backward).
class SavedMask {
 public:
  void save(const SequenceMask& m, std::int64_t batch) {
    causal_ = m.causal;
    has_lengths_ = m.lengths != nullptr;
    if (has_lengths_) lengths_.assign(m.lengths, m.lengths + batch);
  }
  SequenceMask get() const { return {has_lengths_ ? lengths_.data() : nullptr, causal_}; }

 private:
  std::vector<std::int32_t> lengths_;
  bool has_lengths_ = false, causal_ = false;
};

}  // namespace hpct::nn
