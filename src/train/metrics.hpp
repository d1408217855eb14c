#pragma once
// Evaluation metrics per task, computed in the data's original units:
//   regression:      mse, mae, r2 (averaged over targets); gaussian-nll adds the mean predicted std
//   binary:          accuracy (threshold 0.5), auc (ROC AUC, averaged over targets)
//   classification:  accuracy; language models add perplexity = exp(mean NLL) and bits_per_byte =
//                    mean NLL / ln 2 (NLL = -ln p(label) from the softmax probabilities)
// Per-token predictions count the valid positions only: labels other than -1 (padding reads as -1),
// float targets at positions l < length.
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.hpp"
#include "train/predictions.hpp"

namespace hpct::train {

using Metrics = std::vector<std::pair<std::string, double>>;  // in a fixed, task-defined order

// The names compute_metrics returns for this loss, in order.
std::vector<std::string> metric_names(nn::LossKind loss, bool language_model = false);

// `truth` holds the targets in original units (y or labels) for the same rows as `pred`.
Metrics compute_metrics(const Predictions& pred, const data::Dataset& truth, bool language_model = false);

// ROC AUC by the rank-sum (Mann-Whitney U) formula, ties given their average rank. NaN when one
// class is absent.
double roc_auc(const std::vector<float>& score, const std::vector<float>& label);

}  // namespace hpct::train
