#pragma once
// What is needed to rebuild a model: the [model] options plus the widths the data implies. Stored as
// the /model attributes of a checkpoint (one attribute per field, same names).
#include <cstdint>
#include <string>
#include <vector>

namespace hpct::nn {

struct ModelSpec {
  std::string type = "mlp";                   // mlp | transformer-tabular | transformer | lm
  std::int64_t in_features = 0;               // F: tabular features, or floats per position (0 with tokens)
  std::int64_t out_features = 0;              // network output width (2T for gaussian-nll, C for ce)
  std::vector<std::int64_t> widths{64, 64, 64};  // mlp: hidden layer widths
  std::string activation = "gelu";
  double dropout = 0.0;
  bool layernorm = false;                     // mlp: LayerNorm after each hidden Linear
  std::string loss = "mse";                   // mse | gaussian-nll | bce | ce
  std::string task = "regression";            // regression | binary | classification
  std::int64_t targets = 1;                   // T (classification: 1)
  // Transformers (ignored by mlp).
  std::int64_t d_model = 64;                  // D, the width of every token
  std::int64_t heads = 4;                     // attention heads, dividing D
  std::int64_t layers = 2;                    // transformer blocks
  double mlp_ratio = 4.0;                     // feed-forward width = round(mlp_ratio D)
  std::int64_t max_length = 0;                // positions of the positional embedding (sequence models)
  std::int64_t vocab_size = 0;                // token ids in [0, vocab_size); 0: float inputs
  std::int64_t seq_len = 0;                   // L of the training data (information; 0 for tabular)
  std::string pooling = "mean";               // sequence-level heads: mean | cls
  bool causal = false;                        // query i sees keys j <= i only (lm)
  // ssvae (Kingma et al. 2014, M2).
  std::int64_t latent = 16;                   // z dimensions
  std::string recon = "bernoulli";            // bernoulli (x in [0, 1]) | gaussian (unit variance)
  double alpha = 10.0;                        // weight of the classification loss on labelled rows
  std::string target_level = "sequence";      // sequence (one output row per sample) | token (per position)
  // Convolutional sequence models (cnn1d: model.layers blocks; unet1d: model.layers levels; model.activation).
  std::int64_t channels = 64;                 // C, the width of every position
  std::int64_t kernel_size = 5;               // K, odd ("same" padding)
  std::vector<std::int64_t> dilations{1, 2, 4, 8};  // block i dilates by dilations[i mod size]

  bool is_transformer() const { return type != "mlp" && !is_conv(); }
  bool is_conv() const { return type == "cnn1d" || type == "unet1d"; }
  bool per_token() const { return target_level == "token"; }
};

}  // namespace hpct::nn
