#pragma once
// The fuzz targets' bodies (tests/fuzz): each writes its input to a file and reads it the way hpctrain
// does. A rejection (hpct::Error, the message a user sees) is a pass; anything else (another
// exception, a sanitizer report, a crash) is a bug. The libFuzzer binaries and the unit test that
// replays tests/fuzz/regressions/ call the same functions.
#include <cstddef>
#include <cstdint>
#include <string>

namespace hpct::fuzz {

// `train --config FILE`: Boost.Program_options' INI parser, our [models.NAME] sections, every option's
// typed accessor, the group plan of the model sections, and the resolved INI parsed back.
void config_file(const std::uint8_t* data, std::size_t size);
// `convert --csv FILE --targets ...` (data::read_csv).
void csv_file(const std::uint8_t* data, std::size_t size);
// A data set as train and predict read it (data::read_dataset, whole and streamed rows).
void dataset_file(const std::uint8_t* data, std::size_t size);
// A checkpoint as predict and --resume read it: load, the model spec, the model and its parameters.
void checkpoint_file(const std::uint8_t* data, std::size_t size);

// Runs the target named config|csv|dataset|checkpoint on the input.
void run(const std::string& target, const std::uint8_t* data, std::size_t size);

}  // namespace hpct::fuzz
