#pragma once
// Between a live model and the checkpoint's plain data: the ModelSpec as /model attributes, and the
// parameters by name.
#include <string>

#include "nn/model.hpp"
#include "train/checkpoint.hpp"

namespace hpct::train {

std::map<std::string, AttrValue> spec_to_attrs(const nn::ModelSpec& spec);
// `source` names the file in errors (a missing or mistyped attribute).
nn::ModelSpec spec_from_attrs(const std::map<std::string, AttrValue>& attrs, const std::string& source);

// Copies every parameter to the host, in model order.
std::vector<NamedArray> parameters_to_host(kernels::Backend& be, const nn::Model& model);

// Sets the model's parameters from named arrays: every model parameter must be present with the same
// shape, and nothing else may be there; errors name the file and the parameter.
void load_parameters(kernels::Backend& be, nn::Model& model, const std::vector<NamedArray>& arrays,
                     const std::string& source);

}  // namespace hpct::train
