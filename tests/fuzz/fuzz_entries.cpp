#include "fuzz_entries.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <vector>

#include "app/config.hpp"
#include "app/ensemble.hpp"
#include "core/error.hpp"
#include "data/csv_convert.hpp"
#include "data/dataset.hpp"
#include "data/row_source.hpp"
#include "kernels/kernels.hpp"
#include "nn/model.hpp"
#include "parallel/group_plan.hpp"
#include "train/checkpoint.hpp"
#include "train/model_io.hpp"

namespace hpct::fuzz {
namespace {

// The input as a file of this process (one per target, rewritten for every input).
std::string write_input(const std::string& ext, const std::uint8_t* data, std::size_t size) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/hpctrain-fuzz-" + std::to_string(getpid()) + ext;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// Runs f; a hpct::Error is the expected answer to a bad file.
template <class F>
void rejected_ok(F&& f) {
  try {
    f();
  } catch (const Error&) {
  }
}

[[noreturn]] void bug(const std::string& what) {
  std::cerr << "fuzz: " << what << '\n';
  std::abort();
}

}  // namespace

void config_file(const std::uint8_t* data, std::size_t size) {
  static const app::Options options = app::train_options();
  const std::string path = write_input(".ini", data, size);
  rejected_ok([&] {
    const app::Config cfg = app::Config::parse(options, {"--config", path});
    for (const std::string& name : options.names()) {
      rejected_ok([&] { (void)cfg.integer(name); });
      rejected_ok([&] { (void)cfg.unsigned_integer(name); });
      rejected_ok([&] { (void)cfg.real(name); });
      rejected_ok([&] { (void)cfg.boolean(name); });
      rejected_ok([&] { (void)cfg.int_list(name); });
      rejected_ok([&] { (void)cfg.real_list(name); });
      rejected_ok([&] { (void)cfg.str_list(name); });
    }
    if (!cfg.sections().empty()) {
      rejected_ok([&] {
        std::vector<app::Config> configs;
        const auto requests = app::model_requests(cfg, configs);
        (void)dist::describe(dist::plan_models(4, 0, requests));
      });
    }
    // The resolved configuration (config.ini of the run) must parse back to the same options.
    const std::string ini = cfg.to_ini();
    const std::uint8_t* bytes = reinterpret_cast<const std::uint8_t*>(ini.data());
    const std::string again_path = write_input(".resolved.ini", bytes, ini.size());
    app::Config again = app::Config::parse(options, {"--config", again_path});
    for (const std::string& name : options.names())
      if (again.str(name) != cfg.str(name))
        bug("config.ini does not reproduce option " + name + ": '" + cfg.str(name) + "' became '" + again.str(name) + "'");
  });
}

void csv_file(const std::uint8_t* data, std::size_t size) {
  const std::string path = write_input(".csv", data, size);
  for (const char* task : {"regression", "binary", "classification"}) {
    rejected_ok([&] {
      data::CsvOptions opt;
      opt.targets = {"y"};
      opt.task = task;
      const data::Dataset d = data::read_csv(path, opt);
      if (d.x.size() != static_cast<std::size_t>(d.n * d.features)) bug("read_csv: x does not hold n x features");
    });
  }
}

void dataset_file(const std::uint8_t* data, std::size_t size) {
  const std::string path = write_input(".h5", data, size);
  rejected_ok([&] { (void)data::read_dataset(path, false, true); });  // predict, info
  rejected_ok([&] {
    // train --data.stream: targets whole, features row by row.
    const data::Dataset d = data::read_dataset(path, true, false);
    if (d.has_tokens()) return;
    std::vector<std::int64_t> rows;
    for (std::int64_t r = 0; r < std::min<std::int64_t>(d.n, 16); ++r) rows.push_back(r);
    data::Hdf5Rows src(path, rows, d.lengths.empty() ? std::vector<std::int32_t>{} : std::vector<std::int32_t>(d.lengths.begin(), d.lengths.begin() + static_cast<std::ptrdiff_t>(rows.size())));
    std::vector<float> out(static_cast<std::size_t>(src.rows() * src.width()));
    src.read_all(out.data());
  });
}

void checkpoint_file(const std::uint8_t* data, std::size_t size) {
  static const std::unique_ptr<kernels::Backend> backend = kernels::make_cpu_backend(1);
  const std::string path = write_input(".h5", data, size);
  rejected_ok([&] {
    const train::CheckpointData ckpt = train::load_checkpoint(path);
    const nn::ModelSpec spec = train::spec_from_attrs(ckpt.model, path);
    auto model = nn::build_model(spec, *backend, 0);
    train::load_parameters(*backend, *model, ckpt.params, path);
  });
}

void run(const std::string& target, const std::uint8_t* data, std::size_t size) {
  if (target == "config") return config_file(data, size);
  if (target == "csv") return csv_file(data, size);
  if (target == "dataset") return dataset_file(data, size);
  if (target == "checkpoint") return checkpoint_file(data, size);
  bug("unknown fuzz target " + target);
}

}  // namespace hpct::fuzz
