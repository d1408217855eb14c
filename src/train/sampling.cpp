#include "train/sampling.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/buffer.hpp"
#include "core/philox.hpp"

namespace hpct::train {

std::int32_t sample_token(const float* logits, std::int64_t vocab, double temperature, std::int64_t top_k, double u) {
  HPCT_CHECK(vocab > 0, "sample_token: empty vocabulary");
  if (temperature <= 0.0) return static_cast<std::int32_t>(std::max_element(logits, logits + vocab) - logits);
  // Candidates by decreasing logit (stable: ties keep the lower id), cut to the top k.
  std::vector<std::int32_t> order(static_cast<std::size_t>(vocab));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) { return logits[a] > logits[b]; });
  const std::int64_t k = top_k > 0 ? std::min(top_k, vocab) : vocab;
  // p_i = exp((z_i - z_max) / T) / sum_j exp((z_j - z_max) / T) over the candidates, in double.
  std::vector<double> w(static_cast<std::size_t>(k));
  const double z_max = logits[order[0]];
  double total = 0.0;
  for (std::int64_t i = 0; i < k; ++i) total += w[i] = std::exp((static_cast<double>(logits[order[i]]) - z_max) / temperature);
  double acc = 0.0;
  const double target = u * total;
  for (std::int64_t i = 0; i < k; ++i) {
    acc += w[i];
    if (target < acc) return order[i];
  }
  return order[k - 1];  // u * total rounded up to the total
}

std::string generate(kernels::Backend& be, nn::Model& model, const std::string& prompt, const SamplingOptions& opt) {
  const nn::ModelSpec& spec = model.spec();
  HPCT_CHECK(!prompt.empty(), "option --prompt: must not be empty (the model predicts each byte from the ones before)");
  HPCT_CHECK(opt.tokens >= 0, "option --generate: must be >= 0, got ", opt.tokens);
  HPCT_CHECK(opt.temperature >= 0.0 && std::isfinite(opt.temperature), "option --temperature: must be >= 0, got ",
             opt.temperature);
  HPCT_CHECK(opt.top_k >= 0, "option --top-k: must be >= 0, got ", opt.top_k);
  std::vector<std::int32_t> text;
  for (unsigned char c : prompt) text.push_back(c);
  const std::int64_t vocab = spec.out_features;
  Buffer ids_host(host_allocator(), Shape{1, spec.max_length}, DType::i32);
  Buffer ids(be.allocator(), Shape{1, spec.max_length}, DType::i32);
  std::vector<float> logits(static_cast<std::size_t>(vocab));
  std::string out;
  for (std::int64_t step = 0; step < opt.tokens; ++step) {
    // The last max_length bytes (a sliding window once the text is longer than the positions).
    const std::int64_t len = std::min<std::int64_t>(static_cast<std::int64_t>(text.size()), spec.max_length);
    std::copy(text.end() - len, text.end(), ids_host.as<std::int32_t>());
    const Tensor window = ids.tensor().flat_range(0, len).view(Shape{1, len});
    be.copy(window, ids_host.tensor().flat_range(0, len).view(Shape{1, len}));
    const std::int32_t length = static_cast<std::int32_t>(len);
    const Tensor y = model.forward(be, nn::ModelInput{{}, window, &length}, nn::Pass{false, 0});
    be.copy(Tensor(logits.data(), Shape{vocab}, DType::f32), y.view(Shape{len, vocab}).slice(len - 1, len).view(Shape{vocab}));
    const double u = philox_uniform(opt.seed, kSamplingStream, static_cast<std::uint64_t>(step));
    const std::int32_t next = sample_token(logits.data(), vocab, opt.temperature, opt.top_k, u);
    text.push_back(next);
    out.push_back(static_cast<char>(static_cast<unsigned char>(next)));
  }
  return out;
}

}  // namespace hpct::train
