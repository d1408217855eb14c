#pragma once
// MNIST / FashionMNIST IDX files -> the tabular layout (convert --idx IMAGES LABELS), and marking rows
// unlabelled (convert --labelled-fraction F) for semi-supervised training (model ssvae).
//
// IDX (big-endian): magic 0x00 0x00 TYPE RANK, RANK dimensions as uint32, then the values row-major.
// Images: unsigned bytes (TYPE 0x08), rank >= 2 ([N, rows, cols] for MNIST), each image flattened
// into one row of /X scaled by 1/255 to [0, 1]. Labels: unsigned bytes, rank 1, [N], 0..255 -> /y
// (task classification, num_classes = max label + 1).
#include <cstdint>
#include <string>

#include "data/dataset.hpp"

namespace hpct::data {

// Errors name the file and what is wrong (missing, bad magic, a type other than unsigned bytes,
// truncated, a count that differs between images and labels).
Dataset read_idx(const std::string& images_path, const std::string& labels_path);

// Keeps the labels of round(fraction N) rows chosen by a permutation seeded with `seed` (the same rows
// for the same seed and N) and sets the others to -1 (unlabelled); num_classes is kept. fraction in
// [0, 1]; per-row classification data only (errors name the option).
void mark_unlabelled(Dataset& d, double fraction, std::uint64_t seed);

}  // namespace hpct::data
