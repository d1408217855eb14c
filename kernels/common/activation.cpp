// Activation names, as written in configs and model specs.
#include <string>

#include "core/error.hpp"
#include "kernels/kernels.hpp"

namespace hpct::kernels {

// "gelu" is the tanh approximation (GPT-2's choice); "gelu-exact" is the erf form.
Activation parse_activation(const std::string& name) {
  if (name == "identity") return Activation::identity;
  if (name == "relu") return Activation::relu;
  if (name == "gelu" || name == "gelu-tanh") return Activation::gelu_tanh;
  if (name == "gelu-exact") return Activation::gelu_exact;
  if (name == "tanh") return Activation::tanh;
  if (name == "silu") return Activation::silu;
  fail("unknown activation '", name, "' (valid: identity, relu, gelu, gelu-tanh, gelu-exact, tanh, silu)");
}

// The canonical name; parse_activation(to_string(a)) == a.
std::string to_string(Activation a) {
  switch (a) {
    case Activation::identity: return "identity";
    case Activation::relu: return "relu";
    case Activation::gelu_tanh: return "gelu-tanh";
    case Activation::gelu_exact: return "gelu-exact";
    case Activation::tanh: return "tanh";
    case Activation::silu: return "silu";
  }
  fail("invalid Activation value ", static_cast<int>(a));
}

}  // namespace hpct::kernels
