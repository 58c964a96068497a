// Micro-benchmarks of the durable write under the entity store (src/storage/backend.h): the
// RocksDB backend's Commit of one record and of a batch, with sync (the write-ahead log is
// fsync'd before Commit returns: what every acknowledged write waits for) and without. Runs in
// a fresh directory under $TMPDIR (default /tmp), removed afterwards. The figures depend on
// the disk more than on Civitas: compare sync on and off in the same run.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "micro_fixtures.h"
#include "ngsild/entity.h"
#include "storage/backend.h"

namespace civitas::bench {
namespace {

// Owns a RocksDB backend in a temp directory for one benchmark.
class TempStore {
 public:
  TempStore() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/civitas-micro-bench.XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    dir_ = pattern;
    auto backend = storage::OpenRocksDb({.path = dir_ + "/db"});
    if (!backend.ok()) {
      std::fprintf(stderr, "micro bench: %s\n", backend.status().detail().c_str());
      std::abort();
    }
    backend_ = std::move(*backend);
  }
  ~TempStore() {
    backend_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  storage::Backend& backend() { return *backend_; }

 private:
  std::string dir_;
  std::unique_ptr<storage::Backend> backend_;
};

// range(0): records per Commit; range(1): sync. Each record is a sensor entity as the store
// writes it (SerializeEntity, 500-600 bytes) under its own key; keys cycle over 100,000 so
// that the database stays small however long the benchmark runs.
void BM_BackendCommit(benchmark::State& state) {
  const auto records = static_cast<size_t>(state.range(0));
  const bool sync = state.range(1) != 0;
  TempStore store;
  std::string value = ngsild::SerializeEntity(MakeSensor());
  storage::Backend::Batch batch(records);
  for (auto& op : batch) {
    op.kind = storage::Backend::Op::Kind::kPut;
    op.space = "entities";
    op.value = value;
  }
  // Keys as the store makes them: tenant (the default, "") \0 entity id. Setting them is
  // timed too, but costs well under 1% of a Commit.
  const std::string prefix = std::string(1, '\0') + "urn:ngsi-ld:AirQualityObserved:";
  uint64_t next = 0;
  for (auto _ : state) {
    for (auto& op : batch) op.key = prefix + std::to_string(next++ % 100000);
    Status s = store.backend().Commit(batch, sync);
    if (!s.ok()) {
      state.SkipWithError(s.detail().c_str());
      break;
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * records));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * records * value.size()));
  state.SetLabel(sync ? "sync" : "no sync");
}
BENCHMARK(BM_BackendCommit)
    ->ArgsProduct({{1, 64, 1000}, {1, 0}})
    ->ArgNames({"records", "sync"})
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime();

}  // namespace
}  // namespace civitas::bench
