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

LossValue compute_loss(kernels::Backend& be, LossKind kind, const Tensor& pred, const Tensor& target,
                       const Tensor& dpred, double grad_multiplier) {
  const std::int64_t n = pred.rows();
  const std::int64_t count = kind == LossKind::ce ? n : target.numel();
  HPCT_CHECK(count > 0, "loss of an empty batch");
  const double scale = grad_multiplier / static_cast<double>(count);
  double sum = 0.0;
  switch (kind) {
    case LossKind::mse: sum = be.mse_loss(pred, target, dpred, scale); break;
    case LossKind::gaussian_nll: sum = be.gaussian_nll_loss(pred, target, dpred, scale); break;
    case LossKind::bce: sum = be.bce_logits_loss(pred, target, dpred, scale); break;
    case LossKind::ce: sum = be.softmax_ce_loss(pred, target, dpred, scale); break;
  }
  return {sum, count};
}

}  // namespace hpct::nn
