#include "train/model_io.hpp"

#include <algorithm>
#include <cmath>
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

// An attribute that checkpoints written before it existed lack: the ModelSpec default then.
template <class T>
T attr_or(const std::map<std::string, AttrValue>& attrs, const std::string& name, const T& fallback,
          const std::string& source) {
  return attrs.count(name) ? attr<T>(attrs, name, source) : fallback;
}

}  // namespace

std::map<std::string, AttrValue> spec_to_attrs(const nn::ModelSpec& s) {
  std::map<std::string, AttrValue> a{{"type", s.type},
          {"in_features", s.in_features},
          {"out_features", s.out_features},
          {"widths", s.widths},
          {"activation", s.activation},
          {"dropout", s.dropout},
          {"layernorm", std::int64_t{s.layernorm ? 1 : 0}},
          {"loss", s.loss},
          {"task", s.task},
          {"targets", s.targets},
          {"d_model", s.d_model},
          {"heads", s.heads},
          {"layers", s.layers},
          {"mlp_ratio", s.mlp_ratio},
          {"max_length", s.max_length},
          {"vocab_size", s.vocab_size},
          {"seq_len", s.seq_len},
          {"pooling", s.pooling},
          {"causal", std::int64_t{s.causal ? 1 : 0}},
          {"target_level", s.target_level},
          {"latent", s.latent},
          {"recon", s.recon},
          {"alpha", s.alpha}};
  if (s.is_conv()) {  // the convolutional models' fields, written for them only
    a["channels"] = s.channels;
    a["kernel_size"] = s.kernel_size;
    a["dilations"] = s.dilations;
  }
  return a;
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
  // The transformer fields (absent from mlp checkpoints of earlier versions).
  const nn::ModelSpec d;
  s.d_model = attr_or<std::int64_t>(a, "d_model", d.d_model, source);
  s.heads = attr_or<std::int64_t>(a, "heads", d.heads, source);
  s.layers = attr_or<std::int64_t>(a, "layers", d.layers, source);
  s.mlp_ratio = attr_or<double>(a, "mlp_ratio", d.mlp_ratio, source);
  s.max_length = attr_or<std::int64_t>(a, "max_length", d.max_length, source);
  s.vocab_size = attr_or<std::int64_t>(a, "vocab_size", d.vocab_size, source);
  s.seq_len = attr_or<std::int64_t>(a, "seq_len", d.seq_len, source);
  s.pooling = attr_or<std::string>(a, "pooling", d.pooling, source);
  s.causal = attr_or<std::int64_t>(a, "causal", 0, source) != 0;
  s.target_level = attr_or<std::string>(a, "target_level", d.target_level, source);
  s.channels = attr_or<std::int64_t>(a, "channels", d.channels, source);
  s.kernel_size = attr_or<std::int64_t>(a, "kernel_size", d.kernel_size, source);
  s.dilations = attr_or<std::vector<std::int64_t>>(a, "dilations", d.dilations, source);
  s.latent = attr_or<std::int64_t>(a, "latent", d.latent, source);
  s.recon = attr_or<std::string>(a, "recon", d.recon, source);
  s.alpha = attr_or<double>(a, "alpha", d.alpha, source);
  return s;
}

std::vector<NamedArray> parameters_to_host(kernels::Backend& be, const nn::Model& model) {
  const params::ParameterStore& store = model.params();
  std::vector<NamedArray> out;
  for (std::size_t i = 0; i < store.entries().size(); ++i) {
    const params::ParamInfo& e = store.entries()[i];
    NamedArray a{e.name, e.shape.vec(), std::vector<float>(static_cast<std::size_t>(e.shape.numel()))};
    out.push_back(std::move(a));
  }
  // Full-precision weights (the fp32 master copy of a 16-bit model), read back at this named point.
  // An f64 store (finite-difference tests) goes through a cast to f32 on the device.
  const Tensor& w = store.flat_weights();
  Buffer f32;
  if (w.dtype != DType::f32) {
    f32 = Buffer(be.allocator(), w.shape, DType::f32);
    be.cast(w, f32);
  }
  const std::vector<float> flat = be.read<float>(f32.tensor().empty() ? w : f32.tensor());
  for (std::size_t i = 0; i < out.size(); ++i) {
    const params::ParamInfo& e = store.entries()[i];
    std::copy_n(flat.begin() + e.offset, e.shape.numel(), out[i].values.begin());
  }
  return out;
}

void load_parameters(kernels::Backend& be, nn::Model& model, const std::vector<NamedArray>& arrays,
                     const std::string& source) {
  params::ParameterStore& store = model.params();
  std::set<std::string> seen;
  // Into a host image of the flat weights (padding zero), then one copy to the device.
  std::vector<float> flat(static_cast<std::size_t>(store.flat_size()), 0.0f);
  for (const NamedArray& a : arrays) {
    const auto id = store.find(a.name);
    HPCT_CHECK(id, source, ": parameter ", a.name, " does not exist in the model (", model.describe(), ")");
    const Shape want = store.entries()[*id].shape;
    HPCT_CHECK(Shape(a.shape) == want, source, ": parameter ", a.name, " has shape ", Shape(a.shape).str(),
               ", the model expects ", want.str());
    // A NaN or Inf weight would give NaN predictions (predict exits 0) or a misleading "diverged".
    for (std::size_t i = 0; i < a.values.size(); ++i)
      HPCT_CHECK(std::isfinite(a.values[i]), source, ": parameter ", a.name, " element ", i, " is ", a.values[i],
                 " (the checkpoint holds non-finite weights: it was saved from a diverged run or is corrupt)");
    std::copy(a.values.begin(), a.values.end(), flat.begin() + store.entries()[*id].offset);
    seen.insert(a.name);
  }
  for (const auto& e : store.entries())
    HPCT_CHECK(seen.count(e.name), source, ": parameter ", e.name, " is missing");
  const Tensor& w = store.flat_weights();
  const Tensor host(flat.data(), w.shape, DType::f32);
  if (w.dtype == DType::f32) {
    be.copy(w, host);
  } else {
    Buffer f32(be.allocator(), w.shape, DType::f32);
    be.copy(f32, host);
    be.cast(f32, w);
  }
  store.weights_changed(be);
  be.synchronize();  // flat is freed on return
}

}  // namespace hpct::train
