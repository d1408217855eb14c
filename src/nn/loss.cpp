#include "nn/loss.hpp"

#include <vector>

#include "core/buffer.hpp"

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

void compute_loss(kernels::Backend& be, LossKind kind, const Tensor& pred, const Tensor& target, const Tensor& dpred,
                  const kernels::LossArgs& args, const Tensor& acc) {
  HPCT_CHECK(target.numel() > 0, "loss of an empty batch");
  if (kind == LossKind::ce) {
    be.softmax_ce_loss(pred, target, dpred, args, acc);
    return;
  }
  kernels::LossArgs a = args;
  if (!(pred.rank() == 3 && target.rank() == 3)) a.lengths = Tensor{};  // lengths mask tokens only
  switch (kind) {
    case LossKind::mse: be.mse_loss(pred, target, dpred, a, acc); return;
    case LossKind::gaussian_nll: be.gaussian_nll_loss(pred, target, dpred, a, acc); return;
    case LossKind::bce: be.bce_logits_loss(pred, target, dpred, a, acc); return;
    case LossKind::ce: break;
  }
}

LossValue loss_value(kernels::Backend& be, LossKind kind, const Tensor& pred, const Tensor& target,
                     const Tensor& dpred, const kernels::LossArgs& args) {
  Buffer acc(be.allocator(), Shape{2}, DType::f64);
  be.fill(acc, 0.0);
  compute_loss(be, kind, pred, target, dpred, args, acc);
  const std::vector<double> v = be.read<double>(acc);
  return {v[0], static_cast<std::int64_t>(v[1])};
}

}  // namespace hpct::nn
