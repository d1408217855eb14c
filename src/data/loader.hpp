#pragma once
// The prefetching loader: background threads assemble the next mini-batches (features from a
// RowSource, targets from the data set in memory) while the current one trains.
//
// The loader owns the whole schedule: batch g of the run is micro-batch g mod B of epoch
// 1 + g / B (B micro-batches per epoch, the last one possibly short), whose rows are the
// sampler's order for that epoch. Worker w assembles batches w, w + W, w + 2W, ... into a ring of
// slots, never more than `depth` batches ahead of the trainer, and crosses epoch boundaries without
// waiting. next() hands the batches out in order; an error in a worker (a NaN in a streamed row,
// say) is rethrown there, for the batch it belongs to.
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.hpp"
#include "data/row_source.hpp"

namespace hpct::data {

struct HostBatch {
  std::int64_t rows = 0;
  std::int64_t epoch = 0, index = 0;  // which micro-batch of which epoch
  std::int64_t seq_len = 0;           // L for sequence data, 0 for tabular data
  bool token_targets = false;         // y and labels hold one entry per position
  std::vector<float> x;               // [rows, width]: [rows, F], or [rows, L, F]; empty with tokens
  std::vector<std::int32_t> tokens;   // [rows, L] token ids (padding 0), token data only
  std::vector<std::int32_t> lengths;  // [rows] valid positions, sequence data only (L without /lengths)
  std::vector<float> y;               // [rows, targets], or per token [rows, L, targets] (regression, binary)
  std::vector<std::int32_t> labels;   // [rows], or per token [rows, L] with -1 = ignore (classification)
  std::vector<std::int64_t> row_ids;  // [rows] the data set's row of each batch row (dropout and noise keys)
};

struct LoaderOptions {
  std::int64_t batch_size = 128;
  std::int64_t epochs = 1;
  int workers = 1;      // background threads; 0 assembles each batch in next(), on the caller's thread
  int depth = 0;        // batches prepared ahead of the trainer; 0 = 2 per worker, more for small batches
  // The first batch of the schedule handed out (a resume's position: (epoch - 1) x B + micro-batch);
  // the batches before it are never assembled, their rows never read.
  std::int64_t start = 0;
};

class Loader {
 public:
  // order(epoch) gives this rank's rows of epoch `epoch` (1-based), always per_epoch of them; it
  // is called from the worker threads and must be thread-safe (DistributedSampler::indices is).
  // `targets` supplies y or labels, and for sequence data the tokens and lengths (it must outlive the
  // loader); `x` the float features (width 0 for token data).
  using Order = std::function<std::vector<std::int64_t>(std::int64_t epoch)>;
  Loader(const Dataset& targets, const RowSource& x, Order order, std::int64_t per_epoch, const LoaderOptions& opt);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  std::int64_t batches_per_epoch() const { return per_epoch_batches_; }
  // The next batch of the schedule; valid until the following call. Throws a worker's error.
  const HostBatch& next();

 private:
  struct Slot {
    std::int64_t id = -1;  // the batch it holds, once ready
    HostBatch batch;
    std::exception_ptr error;
  };
  void work(int worker);
  void assemble(std::int64_t g, HostBatch& out);
  std::shared_ptr<const std::vector<std::int64_t>> epoch_order(std::int64_t epoch);

  const Dataset& targets_;
  const RowSource& x_;
  Order order_;
  std::int64_t per_epoch_, batch_size_, per_epoch_batches_, total_, start_;
  int workers_;
  std::vector<Slot> slots_;
  std::int64_t consumed_ = 0;  // batches handed out by next(); the last one is still in use
  bool stop_ = false;
  std::mutex mu_;
  std::condition_variable workers_cv_, trainer_cv_;
  std::vector<std::int64_t> resume_at_;  // per worker: the consumed_ count it waits for, or -1
  std::int64_t slack_ = 0;
  std::map<std::int64_t, std::shared_ptr<const std::vector<std::int64_t>>> orders_;  // by epoch
  std::vector<std::thread> threads_;
  HostBatch inline_;  // workers == 0
};

}  // namespace hpct::data
