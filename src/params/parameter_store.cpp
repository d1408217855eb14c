#include "params/parameter_store.hpp"

#include <cmath>
#include <vector>

#include "core/philox.hpp"

namespace hpct::params {
namespace {
constexpr std::int64_t kAlignElements = 16;
}

ParamId ParameterStore::add(const std::string& name, Shape shape, Init init) {
  HPCT_CHECK(!finalized_, "parameter ", name, " added after the parameter store was finalized");
  HPCT_CHECK(!find(name), "parameter name ", name, " used twice");
  entries_.push_back({name, shape, init, flat_size_});
  flat_size_ += (shape.numel() + kAlignElements - 1) / kAlignElements * kAlignElements;
  return static_cast<ParamId>(entries_.size() - 1);
}

void ParameterStore::finalize(kernels::Backend& backend, std::uint64_t seed) {
  HPCT_CHECK(!finalized_, "parameter store finalized twice");
  params_ = Buffer(backend.allocator(), Shape{flat_size_}, dtype_);
  grads_ = Buffer(backend.allocator(), Shape{flat_size_}, dtype_);
  grads_view_ = grads_.tensor();
  backend.fill(grads_, 0.0);
  if (has_master()) master_ = Buffer(backend.allocator(), Shape{flat_size_}, kernels::master_dtype(dtype_));
  // Initialise on the host in double, then copy in the store's dtype.
  std::vector<double> host(static_cast<std::size_t>(flat_size_), 0.0);
  for (std::size_t p = 0; p < entries_.size(); ++p) {
    const ParamInfo& e = entries_[p];
    for (std::int64_t i = 0; i < e.shape.numel(); ++i) {
      const auto index = static_cast<std::uint64_t>(i);
      double v = e.init.value;
      if (e.init.kind == Init::Kind::uniform) {
        v = (2.0 * philox_uniform(seed, p, index) - 1.0) * e.init.value;
      } else if (e.init.kind == Init::Kind::normal) {  // Box-Muller; 1 - u1 is in (0, 1]
        const double u1 = philox_uniform(seed, p, 2 * index), u2 = philox_uniform(seed, p, 2 * index + 1);
        v = e.init.value * std::sqrt(-2.0 * std::log(1.0 - u1)) * std::cos(6.283185307179586 * u2);
      }
      host[e.offset + i] = v;
    }
  }
  const Tensor& weights = flat_weights();
  Buffer staging(host_allocator(), Shape{flat_size_}, weights.dtype);
  if (weights.dtype == DType::f64)
    std::copy(host.begin(), host.end(), staging.as<double>());
  else
    std::copy(host.begin(), host.end(), staging.as<float>());
  backend.copy(weights, staging);
  weights_changed(backend);
  backend.synchronize();  // the staging memory is freed on return (set-up, not a step)
  finalized_ = true;
}

void ParameterStore::weights_changed(kernels::Backend& backend) {
  if (has_master()) backend.cast(master_, params_);
}

void ParameterStore::restore_master(kernels::Backend& backend) {
  if (has_master() && master_.tensor().empty())
    master_ = Buffer(backend.allocator(), Shape{flat_size_}, kernels::master_dtype(dtype_));
}

std::optional<ParamId> ParameterStore::find(const std::string& name) const {
  for (std::size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].name == name) return static_cast<ParamId>(i);
  return std::nullopt;
}

std::int64_t ParameterStore::count() const {
  std::int64_t n = 0;
  for (const auto& e : entries_) n += e.shape.numel();
  return n;
}

void ParameterStore::place_grads(kernels::Backend& backend, const Tensor& memory) {
  HPCT_CHECK(finalized_, "place_grads before finalize");
  const Tensor target = memory.empty() ? grads_.tensor() : memory;
  HPCT_CHECK(target.numel() == flat_size_ && target.dtype == dtype_, "place_grads: memory of ", target.numel(), " ",
             name_of(target.dtype), ", expected ", flat_size_, " ", name_of(dtype_));
  if (target.data != grads_view_.data) backend.copy(target, grads_view_);
  grads_view_ = target;
}

Tensor ParameterStore::view(const Tensor& flat, ParamId id) const {
  HPCT_CHECK(finalized_, "parameter ", entries_.at(id).name, " used before the store was finalized");
  const ParamInfo& e = entries_.at(id);
  return flat.flat_range(e.offset, e.shape.numel()).view(e.shape);
}

}  // namespace hpct::params
