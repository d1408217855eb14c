#pragma once
// Losses over a batch, computed on the device: the loss kernels add {sum, count} into an accumulator
// (f64 [2] on the device), so a training step never reads a loss back; the trainer reads its
// accumulators only when it logs. Means follow PyTorch's defaults (MSE, Gaussian NLL and BCE over all
// N*T elements; cross-entropy over the N rows); the sum and count stay separate so that distributed
// evaluation and training reduce them exactly.
// Per-token outputs [N, L, ...] count only what is real: cross-entropy skips labels kIgnoreLabel (-1;
// padding reads as -1, as PyTorch's ignore_index), the others only the positions l < lengths[n].
// Training asks for the gradient of the sum scaled by a constant and divides by the count of the whole
// optimizer step on the device (kernels::Backend::step_control), so that ranks and micro-batches with
// different numbers of tokens add up to exactly the one-batch gradient.
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
// float [N, L, T] or labels [N, L]. Adds {sum, count} to acc (f64 [2] on the device); with dpred, writes
// the gradient args asks for (kernels::LossArgs). args.lengths masks per-token float losses only.
void compute_loss(kernels::Backend& be, LossKind kind, const Tensor& pred, const Tensor& target, const Tensor& dpred,
                  const kernels::LossArgs& args, const Tensor& acc);

// The loss as host numbers, for tests and tools: compute_loss into a fresh accumulator and one read
// back (a host synchronisation).
LossValue loss_value(kernels::Backend& be, LossKind kind, const Tensor& pred, const Tensor& target,
                     const Tensor& dpred = {}, const kernels::LossArgs& args = {});

}  // namespace hpct::nn
