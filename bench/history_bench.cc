// History recording without HTTP or disk: the temporal store's part of a batch upsert.
//
// Each iteration is one commit round as the EntityStore runs it (OnPrepare, then OnCommitted)
// for a batch of 100 entities of 3 numeric attributes with new values and observedAt. The
// series fill up and are sealed every chunk_samples rounds, so a run long enough covers the
// cycle from empty to full; the figure is time per attribute update. See BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "temporal/temporal_store.h"

namespace civitas::temporal {
namespace {

constexpr int kEntities = 100;
const char* const kAttrs[] = {"https://uri.etsi.org/ngsi-ld/default-context/NO2",
                              "https://uri.etsi.org/ngsi-ld/default-context/PM10",
                              "https://uri.etsi.org/ngsi-ld/default-context/temperature"};

storage::EntityPtr MakeEntity(int i, int round) {
  auto e = std::make_shared<ngsild::Entity>();
  e->id = "urn:ngsi-ld:AirQualityObserved:" + std::to_string(i);
  e->types = {"https://uri.etsi.org/ngsi-ld/default-context/AirQualityObserved"};
  const std::string at = FormatDateTime(1'764'583'200'000'000 + int64_t{round} * 60'000'000);
  for (int a = 0; a < 3; ++a) {
    Json attr = Json::MakeObject();
    attr.Set("type", "Property");
    attr.Set("value", Json(static_cast<double>((i * 7 + round * 13 + a) % 1000) / 10));
    attr.Set("observedAt", at);
    e->attrs.push_back({kAttrs[a], {std::move(attr)}});
  }
  return e;
}

void BM_RecordBatch(benchmark::State& state) {
  TemporalStore::Options options;
  TemporalStore store(options);
  std::vector<storage::EntityPtr> current(kEntities);
  int round = 0;
  for (auto _ : state) {
    state.PauseTiming();
    std::vector<storage::Change> changes;
    changes.reserve(kEntities);
    for (int i = 0; i < kEntities; ++i) {
      auto next = MakeEntity(i, round);
      changes.push_back({current[i] ? storage::Change::Kind::kUpdated
                                    : storage::Change::Kind::kCreated,
                         "", current[i], next, NowMicros()});
      current[i] = next;
    }
    storage::Backend::Batch batch;
    state.ResumeTiming();
    store.OnPrepare(changes, &batch);
    store.OnCommitted(changes);
    benchmark::DoNotOptimize(batch.data());
    ++round;
  }
  state.SetItemsProcessed(state.iterations() * kEntities * 3);
  state.counters["open_samples_per_series"] =
      static_cast<double>(store.stats().open_samples) / (kEntities * 3);
}
// 2,048 rounds: each series goes through two seals.
BENCHMARK(BM_RecordBatch)->Iterations(2048)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace civitas::temporal

BENCHMARK_MAIN();
