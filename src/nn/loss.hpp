#pragma once
// Losses over a batch, reduced to a mean the way PyTorch's defaults do (MSE, Gaussian NLL and BCE over
// all N*T elements; cross-entropy over the N rows). The sum and the count are returned separately so
// that distributed evaluation can reduce them exactly.
// Per-token outputs [N, L, ...] count only what is real: cross-entropy skips labels kIgnoreLabel (-1;
// padding reads as -1, as PyTorch's ignore_index), the others only the positions l < lengths[n].
// The mean is over this batch's counted elements. Training asks for the gradient of the sum instead
// and divides by the count of the whole optimizer step (train::fit), so that ranks and micro-batches
// with different numbers of tokens add up to exactly the one-batch gradient.
#include <cstdint>
#include <string>

#include "kernels/kernels.hpp"

namespace hpct::nn {

enum class LossKind { mse, gaussian_nll, bce, ce };
LossKind parse_loss(const std::string& name);  // "mse", "gaussian-nll", "bce", "ce"
std::string to_string(LossKind k);

// Network output width for T targets (or C classes).
std::int64_t output_width(LossKind k, std::int64_t targets, std::int64_t num_classes);

struct LossValue {
  double sum = 0.0;
  std::int64_t count = 0;
  double mean() const { return count ? sum / static_cast<double>(count) : 0.0; }
};

// target: float [N, T] (mse, gaussian-nll, bce) or int32 labels [N] (ce); per token pred [N, L, W] with
// float [N, L, T] or labels [N, L]. When dpred is not empty it receives d(mean loss)/d(pred) scaled by
// grad_multiplier, zero at padding; with grad_of_sum, d(sum of the losses)/d(pred) scaled by it.
// lengths (host [N], or nullptr = all L) mask the per-token float losses.
LossValue compute_loss(kernels::Backend& be, LossKind kind, const Tensor& pred, const Tensor& target,
                       const Tensor& dpred, double grad_multiplier = 1.0, const std::int32_t* lengths = nullptr,
                       bool grad_of_sum = false);

}  // namespace hpct::nn
