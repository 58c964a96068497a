#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "storage/entity_store.h"
#include "temporal/temporal_store.h"

namespace civitas::temporal {

// Retention for history that is no longer written. A write to a series drops its expired
// chunks in the same batch; a series that is never written again (a sensor taken out of
// service) would keep them forever without this: every `interval` the sweeper submits one
// TemporalStore::ExpireOp per history holding a sealed chunk past retention, and waits until
// they are durable. Does nothing when no retention is set.
class RetentionSweeper {
 public:
  RetentionSweeper(TemporalStore* history, storage::EntityStore* entities,
                   std::chrono::milliseconds interval);
  ~RetentionSweeper();  // Stop()

  // One sweep on the caller's thread: the number of histories that had expired chunks.
  size_t SweepOnce();
  // Waits for a sweep in progress, then ends the thread. Idempotent.
  void Stop();

 private:
  void Run();

  TemporalStore* const history_;
  storage::EntityStore* const entities_;
  const std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace civitas::temporal
