#include "optim/clip.hpp"

#include <cmath>

namespace hpct::optim {

double clip_grad_norm(kernels::Backend& be, const Tensor& flat_grads, double max_norm) {
  const double norm = std::sqrt(be.sum_squares(flat_grads));
  if (max_norm > 0) {
    const double factor = max_norm / (norm + 1e-6);
    if (factor < 1.0) be.scale(flat_grads, factor);
  }
  return norm;
}

}  // namespace hpct::optim
