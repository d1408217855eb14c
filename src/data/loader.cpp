#include "data/loader.hpp"

#include "core/trace.hpp"

#include <algorithm>
#include <cstdint>

#include "core/error.hpp"

namespace hpct::data {

Loader::Loader(const Dataset& targets, const RowSource& x, Order order, std::int64_t per_epoch,
               const LoaderOptions& opt)
    : targets_(targets), x_(x), order_(std::move(order)), per_epoch_(per_epoch), batch_size_(opt.batch_size),
      workers_(opt.workers) {
  HPCT_CHECK(opt.workers >= 0 && opt.workers <= 64, "option data.workers: must be in [0, 64], got ", opt.workers);
  HPCT_CHECK(batch_size_ > 0 && per_epoch_ > 0 && opt.epochs > 0, "loader: empty schedule");
  per_epoch_batches_ = (per_epoch_ + batch_size_ - 1) / batch_size_;
  total_ = per_epoch_batches_ * opt.epochs;
  HPCT_CHECK(opt.start >= 0 && opt.start <= total_, "loader: start batch ", opt.start, " is outside the schedule of ",
             total_, " batches");
  start_ = consumed_ = opt.start;
  if (workers_ == 0) return;
  // Small batches get a deeper ring (up to 16, within 64 MiB), so a worker that ran ahead is woken
  // once per several batches rather than once per batch (see work()).
  const std::int64_t batch_bytes = std::max<std::int64_t>(1, batch_size_ * x.width() * 4);
  const std::int64_t fit = std::min<std::int64_t>((64 << 20) / batch_bytes, 16);
  const int depth = opt.depth > 0 ? opt.depth : static_cast<int>(std::max<std::int64_t>(fit, 2 * workers_));
  slots_.resize(static_cast<std::size_t>(std::max(depth, workers_) + 1));  // +1: the batch in use
  const auto ring = static_cast<std::int64_t>(slots_.size());
  // A worker that had to wait resumes once `slack_` more batches are free than it needs, but never
  // so late that the trainer would wait for it: at least 1 + workers batches stay ready.
  slack_ = std::max<std::int64_t>(0, std::min<std::int64_t>(ring / 2, ring - 2 - workers_));
  resume_at_.assign(static_cast<std::size_t>(workers_), -1);
  for (int w = 0; w < workers_; ++w) threads_.emplace_back([this, w] { work(w); });
}

Loader::~Loader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  workers_cv_.notify_all();
  for (auto& t : threads_) t.join();
}

// Each epoch's order is computed once, by the first thread that needs it, and dropped once the
// trainer has moved past that epoch.
std::shared_ptr<const std::vector<std::int64_t>> Loader::epoch_order(std::int64_t epoch) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = orders_.find(epoch); it != orders_.end()) return it->second;
  }
  auto order = std::make_shared<const std::vector<std::int64_t>>(order_(epoch));
  HPCT_CHECK(static_cast<std::int64_t>(order->size()) == per_epoch_, "loader: epoch ", epoch, " has ",
             order->size(), " rows, expected ", per_epoch_);
  std::lock_guard<std::mutex> lock(mu_);
  const std::int64_t current = 1 + std::max<std::int64_t>(consumed_ - 1, 0) / per_epoch_batches_;
  orders_.erase(orders_.begin(), orders_.lower_bound(current));
  return orders_.emplace(epoch, order).first->second;
}

void Loader::assemble(std::int64_t g, HostBatch& out) {
  out.epoch = 1 + g / per_epoch_batches_;
  out.index = g % per_epoch_batches_;
  const auto order = epoch_order(out.epoch);
  const std::int64_t begin = out.index * batch_size_, n = std::min(batch_size_, per_epoch_ - begin);
  const std::int64_t* rows = order->data() + begin;
  out.rows = n;
  out.row_ids.assign(rows, rows + n);
  out.seq_len = targets_.seq_len;
  out.token_targets = targets_.token_targets;
  out.x.resize(static_cast<std::size_t>(n * x_.width()));
  x_.read(rows, n, out.x.data());
  // Copies `width` values per row of src into dst, for the batch's rows.
  const auto pick = [&](const auto& src, auto& dst, std::int64_t width) {
    dst.resize(static_cast<std::size_t>(n * width));
    for (std::int64_t i = 0; i < n; ++i) std::copy_n(src.begin() + rows[i] * width, width, dst.begin() + i * width);
  };
  const std::int64_t L = targets_.seq_len, P = targets_.target_positions();
  out.tokens.clear();
  out.lengths.clear();
  if (!targets_.tokens.empty()) pick(targets_.tokens, out.tokens, L);
  if (targets_.is_sequence()) {
    out.lengths.resize(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) out.lengths[i] = static_cast<std::int32_t>(targets_.length(rows[i]));
  }
  out.y.clear();
  out.labels.clear();
  if (targets_.task == Task::classification && !targets_.labels.empty())
    pick(targets_.labels, out.labels, P);
  else if (!targets_.y.empty())
    pick(targets_.y, out.y, P * targets_.targets);
}

void Loader::work(int worker) {
  trace::name_thread("loader " + std::to_string(worker));
  const auto ring = static_cast<std::int64_t>(slots_.size());
  for (std::int64_t g = start_ + worker; g < total_; g += workers_) {
    Slot& slot = slots_[static_cast<std::size_t>(g % ring)];
    {
      // Slot g % ring last held batch g - ring, free once the trainer has moved past it, i.e. when
      // consumed_ >= g - ring + 2. A worker that has to wait asks to be woken `slack_` batches later
      // (next() wakes it only then): each wake-up costs a context switch on a core that trains.
      std::unique_lock<std::mutex> lock(mu_);
      if (consumed_ < g - ring + 2) {
        std::int64_t& resume = resume_at_[static_cast<std::size_t>(worker)];
        resume = g - ring + 2 + slack_;
        workers_cv_.wait(lock, [&] { return stop_ || consumed_ >= resume; });
        resume = -1;
      }
      if (stop_) return;
    }
    HostBatch batch = std::move(slot.batch);  // reuse its memory
    std::exception_ptr error;
    try {
      const trace::Span span("batch", "data");
      assemble(g, batch);
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      slot.batch = std::move(batch);
      slot.error = error;
      slot.id = g;
    }
    trainer_cv_.notify_all();
    if (error) return;
  }
}

const HostBatch& Loader::next() {
  HPCT_CHECK(consumed_ < total_, "loader: all ", total_, " batches were handed out");
  const std::int64_t g = consumed_;
  if (workers_ == 0) {
    ++consumed_;
    assemble(g, inline_);
    return inline_;
  }
  Slot& slot = slots_[static_cast<std::size_t>(g % static_cast<std::int64_t>(slots_.size()))];
  std::unique_lock<std::mutex> lock(mu_);
  ++consumed_;  // releases batch g - 1's slot
  for (const std::int64_t resume : resume_at_)
    if (resume >= 0 && consumed_ >= resume) {
      workers_cv_.notify_all();
      break;
    }
  trainer_cv_.wait(lock, [&] { return slot.id == g; });
  if (slot.error) std::rethrow_exception(slot.error);
  return slot.batch;
}

}  // namespace hpct::data
