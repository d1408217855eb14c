#pragma once
// Which positions of a batch of sequences [N, L, ...] are real, and whether attention is causal. A
// model passes it to the sequence layers' forward (MultiHeadAttention, TransformerBlock, MeanPool),
// which keep it in their context: the lengths are the batch's device tensor, valid for the step.
#include "core/tensor.hpp"

namespace hpct::nn {

struct SequenceMask {
  // i32 [N] on the device, each in [1, L]: positions >= lengths[n] of sequence n are padding (keys
  // there are masked, mean pooling skips them). Empty: every position is real.
  Tensor lengths;
  bool causal = false;  // query i attends to keys j <= i only
};

}  // namespace hpct::nn
