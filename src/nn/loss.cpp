#include "nn/loss.hpp"

namespace hpct::nn {

LossKind parse_loss(const std::string& name) {
  if (name == "mse") return LossKind::mse;
  if (name == "gaussian-nll") return LossKind::gaussian_nll;
  if (name == "bce") return LossKind::bce;
  if (name == "ce") return LossKind::ce;
  fail("unknown loss '", name, "' (valid: mse, gaussian-nll, bce, ce)");
}

std::string to_string(LossKind k) {
  switch (k) {
    case LossKind::mse: return "mse";
    case LossKind::gaussian_nll: return "gaussian-nll";
    case LossKind::bce: return "bce";
    case LossKind::ce: return "ce";
  }
  return "?";
}

std::int64_t output_width(LossKind k, std::int64_t targets, std::int64_t num_classes) {
  switch (k) {
    case LossKind::gaussian_nll: return 2 * targets;
    case LossKind::ce: return num_classes;
    default: return targets;
  }
}

namespace {

// The sum of one float loss over rows [N', W] of pred against target.
double float_loss(kernels::Backend& be, LossKind kind, const Tensor& pred, const Tensor& target, const Tensor& dpred,
                  double scale) {
  switch (kind) {
    case LossKind::mse: return be.mse_loss(pred, target, dpred, scale);
    case LossKind::gaussian_nll: return be.gaussian_nll_loss(pred, target, dpred, scale);
    case LossKind::bce: return be.bce_logits_loss(pred, target, dpred, scale);
    case LossKind::ce: break;
  }
  fail("float_loss: not a float loss");
}

}  // namespace

LossValue compute_loss(kernels::Backend& be, LossKind kind, const Tensor& pred, const Tensor& target,
                       const Tensor& dpred, double grad_multiplier, const std::int32_t* lengths, bool grad_of_sum) {
  // The kernels' gradient scale: d(sum) times it is d(mean) times grad_multiplier (or d(sum) times it).
  const auto scale_for = [&](std::int64_t count) {
    return grad_of_sum ? grad_multiplier : grad_multiplier / static_cast<double>(count);
  };
  if (kind == LossKind::ce) {
    // Labels live in host memory (the kernel checks); the ignored ones are not counted.
    const std::int32_t* lab = target.as<std::int32_t>();
    std::int64_t count = 0;
    for (std::int64_t i = 0; i < target.numel(); ++i) count += lab[i] != kernels::kIgnoreLabel;
    HPCT_CHECK(target.numel() > 0, "loss of an empty batch");
    if (count == 0) {  // nothing labelled: no loss, no gradient
      if (!dpred.empty()) be.fill(dpred, 0.0);
      return {0.0, 0};
    }
    return {be.softmax_ce_loss(pred, target, dpred, scale_for(count)), count};
  }
  const bool masked = lengths != nullptr && pred.rank() == 3 && target.rank() == 3;
  if (!masked) {
    const std::int64_t count = target.numel();
    HPCT_CHECK(count > 0, "loss of an empty batch");
    return {float_loss(be, kind, pred, target, dpred, scale_for(count)), count};
  }
  // Per token, masked: sequence n's valid positions are the rows [0, lengths[n]) of its [L, W] block, so
  // the kernel runs on those rows and the padding rows of dpred are zeroed.
  const std::int64_t n = pred.dim(0), len = pred.dim(1), t = target.dim(2);
  HPCT_CHECK(target.dim(0) == n && target.dim(1) == len, "loss: pred ", pred.shape.str(), " and target ",
             target.shape.str(), " differ in [N, L]");
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < n; ++i) count += lengths[i] * t;
  HPCT_CHECK(count > 0, "loss of an empty batch");
  const double scale = scale_for(count);
  const Tensor p2 = pred.view(Shape{n * len, pred.dim(2)}), t2 = target.view(Shape{n * len, t});
  const Tensor d2 = dpred.empty() ? Tensor{} : dpred.view(p2.shape);
  double sum = 0.0;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t r0 = i * len, r1 = r0 + lengths[i], end = r0 + len;
    HPCT_CHECK(lengths[i] >= 1 && lengths[i] <= len, "loss: length ", lengths[i], " of row ", i, " is outside [1, ",
               len, "]");
    sum += float_loss(be, kind, p2.slice(r0, r1), t2.slice(r0, r1), d2.empty() ? Tensor{} : d2.slice(r0, r1), scale);
    if (!d2.empty() && r1 < end) be.fill(d2.slice(r1, end), 0.0);
  }
  return {sum, count};
}

}  // namespace hpct::nn
