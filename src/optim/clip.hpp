#pragma once
#include "kernels/kernels.hpp"

namespace hpct::optim {

// Scales the flat gradients so their global L2 norm is at most max_norm (as
// torch.nn.utils.clip_grad_norm_: factor max_norm / (norm + 1e-6) when below 1). Returns the norm
// before clipping. max_norm <= 0 only measures.
double clip_grad_norm(kernels::Backend& be, const Tensor& flat_grads, double max_norm);

}  // namespace hpct::optim
