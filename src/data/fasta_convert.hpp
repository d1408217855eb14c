#pragma once
// Protein sequences in FASTA -> the per-position feature layout (convert --fasta), for per-residue
// models: /X [N, L, F] float32 with one row per residue, /lengths [N], and with a labels file a
// per-residue /y (target_level token).
//
// FASTA: records start with '>' and an id (the header's first word); the sequence lines that follow
// are concatenated, white space ignored, a trailing '*' (stop) dropped. Residues are letters (either
// case): the 20 standard ones, B, J, Z, X (ambiguous or unknown), U (read as C) and O (read as K).
// Encodings: onehot, F = 21 (ARNDCQEGHILKMFPSTWYV, then "other" for B J Z X); blosum62, F = 20 (the
// residue's BLOSUM62 row against the 20 standard residues; data/amino_acids.hpp).
//
// Labels file: the same FASTA framing, one record per sequence with the same id (any order), holding
// one label per residue, either as a run of digits ("0011100", '-' = no label) or as white-space
// separated numbers ("0 0 1 1" or "0.25 -1.5 ..."; with task classification "-1" = no label).
// task classification: integer classes >= 0 (/y int32 [N, L], padding and unlabelled -1);
// binary: 0 or 1, and regression: any finite value (/y float32 [N, L], padding 0).
// Every error names the file and the record (and the position): a missing or duplicate id, a label
// count that differs from the residue count, a character that is no residue, a bad label value.
#include <cstdint>
#include <string>

#include "data/dataset.hpp"

namespace hpct::data {

struct FastaOptions {
  std::string encoding = "onehot";  // onehot | blosum62
  std::string labels;               // labels file; empty: inputs only (for predict)
  std::string task = "classification";
  std::int64_t max_length = 0;      // L; 0: the longest sequence. Longer sequences are an error.
};

Dataset read_fasta(const std::string& path, const FastaOptions& opt);

}  // namespace hpct::data
