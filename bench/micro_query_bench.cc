// Micro-benchmarks of `q` (src/query/q.h): parsing an expression, and evaluating one against
// an entity, alone and over a city's worth of sensors (what a query or a subscription does
// for every candidate entity the indexes cannot rule out).

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "micro_fixtures.h"
#include "query/q.h"

namespace civitas::bench {
namespace {

query::QExpr MustParseQ(const std::string& text) {
  const auto& ctx = CoreContext();
  auto q = query::QExpr::Parse(text, [&ctx](std::string_view n) { return ctx.Expand(n); });
  if (!q.ok()) {
    std::fprintf(stderr, "micro bench: q %s: %s\n", text.c_str(), q.status().detail().c_str());
    std::abort();
  }
  return std::move(*q);
}

// The two q of the harness's query scenarios, and one with a disjunction and a pattern.
const char* const kQueries[] = {
    "NO2>40",
    "NO2>40;PM10<30",
    "(NO2>40|PM10>=50);name~=\"(?i)plads\"",
};

void BM_QParse(benchmark::State& state) {
  const auto& ctx = CoreContext();
  std::string text = kQueries[state.range(0)];
  auto expand = [&ctx](std::string_view n) { return ctx.Expand(n); };
  for (auto _ : state) {
    auto q = query::QExpr::Parse(text, expand);
    benchmark::DoNotOptimize(q);
  }
  state.SetLabel(text);
}
BENCHMARK(BM_QParse)->DenseRange(0, 2);

// One entity that satisfies every expression above (so no term short-circuits early).
void BM_QMatch(benchmark::State& state) {
  query::QExpr q = MustParseQ(kQueries[state.range(0)]);
  ngsild::Entity e = MakeSensor("urn:ngsi-ld:AirQualityObserved:Aarhus:0042", 55.5, 20.25);
  if (!q.Matches(e)) std::abort();
  for (auto _ : state) {
    bool m = q.Matches(e);
    benchmark::DoNotOptimize(m);
  }
  state.SetLabel(kQueries[state.range(0)]);
}
BENCHMARK(BM_QMatch)->DenseRange(0, 2);

// 10,000 sensors with NO2 uniform in [0, 80) and PM10 in [0, 60) (about half match NO2>40):
// the whole population per iteration; items/s counts entities evaluated.
void BM_QScan(benchmark::State& state) {
  query::QExpr q = MustParseQ(kQueries[state.range(0)]);
  std::mt19937 rng(7);
  std::vector<ngsild::Entity> city;
  for (int i = 0; i < 10000; ++i) {
    city.push_back(MakeSensor("urn:ngsi-ld:AirQualityObserved:" + std::to_string(i),
                              (rng() % 8000) / 100.0, (rng() % 6000) / 100.0));
  }
  size_t matched = 0;
  for (auto _ : state) {
    matched = 0;
    for (const auto& e : city) matched += q.Matches(e) ? 1 : 0;
    benchmark::DoNotOptimize(matched);
  }
  if (matched == 0 || matched == city.size()) std::abort();  // the data must discriminate
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * city.size()));
  state.counters["matched"] = static_cast<double>(matched);
  state.SetLabel(kQueries[state.range(0)]);
}
BENCHMARK(BM_QScan)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace civitas::bench
