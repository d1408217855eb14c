#include "train/model_io.hpp"

#include <set>

namespace hpct::train {
namespace {

template <class T>
const T& attr(const std::map<std::string, AttrValue>& attrs, const std::string& name, const std::string& source) {
  const auto it = attrs.find(name);
  HPCT_CHECK(it != attrs.end(), source, ": /model has no attribute '", name, "'");
  const T* v = std::get_if<T>(&it->second);
  HPCT_CHECK(v, source, ": /model attribute '", name, "' has the wrong type");
  return *v;
}

}  // namespace

std::map<std::string, AttrValue> spec_to_attrs(const nn::ModelSpec& s) {
  return {{"type", s.type},
          {"in_features", s.in_features},
          {"out_features", s.out_features},
          {"widths", s.widths},
          {"activation", s.activation},
          {"dropout", s.dropout},
          {"layernorm", std::int64_t{s.layernorm ? 1 : 0}},
          {"loss", s.loss},
          {"task", s.task},
          {"targets", s.targets}};
}

nn::ModelSpec spec_from_attrs(const std::map<std::string, AttrValue>& a, const std::string& source) {
  nn::ModelSpec s;
  s.type = attr<std::string>(a, "type", source);
  s.in_features = attr<std::int64_t>(a, "in_features", source);
  s.out_features = attr<std::int64_t>(a, "out_features", source);
  s.widths = attr<std::vector<std::int64_t>>(a, "widths", source);
  s.activation = attr<std::string>(a, "activation", source);
  s.dropout = attr<double>(a, "dropout", source);
  s.layernorm = attr<std::int64_t>(a, "layernorm", source) != 0;
  s.loss = attr<std::string>(a, "loss", source);
  s.task = attr<std::string>(a, "task", source);
  s.targets = attr<std::int64_t>(a, "targets", source);
  return s;
}

std::vector<NamedArray> parameters_to_host(kernels::Backend& be, const nn::Model& model) {
  const nn::ParameterStore& store = model.params();
  std::vector<NamedArray> out;
  for (std::size_t i = 0; i < store.entries().size(); ++i) {
    const nn::ParamInfo& e = store.entries()[i];
    NamedArray a{e.name, e.shape.vec(), std::vector<float>(static_cast<std::size_t>(e.shape.numel()))};
    be.copy(Tensor(a.values.data(), e.shape, DType::f32), store.param(static_cast<nn::ParamId>(i)));
    out.push_back(std::move(a));
  }
  return out;
}

void load_parameters(kernels::Backend& be, nn::Model& model, const std::vector<NamedArray>& arrays,
                     const std::string& source) {
  nn::ParameterStore& store = model.params();
  std::set<std::string> seen;
  for (const NamedArray& a : arrays) {
    const auto id = store.find(a.name);
    HPCT_CHECK(id, source, ": parameter ", a.name, " does not exist in the model (", model.describe(), ")");
    const Shape want = store.entries()[*id].shape;
    HPCT_CHECK(Shape(a.shape) == want, source, ": parameter ", a.name, " has shape ", Shape(a.shape).str(),
               ", the model expects ", want.str());
    be.copy(store.param(*id), Tensor(const_cast<float*>(a.values.data()), want, DType::f32));
    seen.insert(a.name);
  }
  for (const auto& e : store.entries())
    HPCT_CHECK(seen.count(e.name), source, ": parameter ", e.name, " is missing");
}

}  // namespace hpct::train
