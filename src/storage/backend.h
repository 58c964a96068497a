#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace civitas::storage {

// Durable persistence under the in-memory state. The embedded engine (RocksDB) implements it
// today; a PostgreSQL backend can implement it later. Keys are opaque byte strings in named
// key spaces ("entities", "meta", ... ); a batch is applied atomically and, with sync, is on
// stable storage when Commit returns.
class Backend {
 public:
  struct Op {
    enum class Kind { kPut, kDelete } kind;
    std::string space;
    std::string key;
    std::string value;  // empty for kDelete
  };
  using Batch = std::vector<Op>;

  virtual ~Backend() = default;

  // Applies the batch atomically. With sync, returns only once it survives power loss.
  virtual Status Commit(const Batch& batch, bool sync) = 0;

  // Calls fn for every key of a space in key order (at start-up, to rebuild memory state).
  // Stops early and returns fn's error if fn fails.
  virtual Status Scan(std::string_view space,
                      const std::function<Status(std::string_view key, std::string_view value)>&
                          fn) = 0;

  // Approximate bytes on disk (for /metrics).
  virtual uint64_t DiskBytes() = 0;
};

struct RocksDbOptions {
  std::string path;
  size_t block_cache_bytes = 64 << 20;
};

// Opens (creating if needed) the embedded RocksDB store at options.path.
Result<std::unique_ptr<Backend>> OpenRocksDb(const RocksDbOptions& options);

}  // namespace civitas::storage
