#include "temporal/retention_sweeper.h"

#include <future>
#include <vector>

namespace civitas::temporal {

RetentionSweeper::RetentionSweeper(TemporalStore* history, storage::EntityStore* entities,
                                   std::chrono::milliseconds interval)
    : history_(history), entities_(entities), interval_(interval) {
  thread_ = std::thread([this] { Run(); });
}

RetentionSweeper::~RetentionSweeper() { Stop(); }

void RetentionSweeper::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void RetentionSweeper::Run() {
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, interval_, [this] { return stop_; })) {
    lock.unlock();
    SweepOnce();
    lock.lock();
  }
}

size_t RetentionSweeper::SweepOnce() {
  auto expired = history_->Expired(NowMicros());
  if (expired.empty()) return 0;
  std::vector<storage::WriteOp> ops;
  ops.reserve(expired.size());
  for (auto& [tenant, id] : expired) ops.push_back(history_->ExpireOp(tenant, id));
  std::promise<void> done;
  entities_->Submit(std::move(ops), [&done](std::vector<Status>) { done.set_value(); });
  done.get_future().wait();
  return expired.size();
}

}  // namespace civitas::temporal
