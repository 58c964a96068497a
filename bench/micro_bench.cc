// Micro-benchmarks of the request hot paths that do not touch the network: JSON parsing, entity
// body parsing and expansion, rendering, and the storage serialization (this file); `q`
// (micro_query_bench.cc); the history chunk codecs (micro_temporal_bench.cc); the durable
// write of the RocksDB backend (micro_storage_bench.cc). One binary:
//   build/release/bench/civitas_micro_bench [--benchmark_filter=REGEX]

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "common/json.h"
#include "common/time.h"
#include "jsonld/context.h"
#include "micro_fixtures.h"
#include "ngsild/entity.h"
#include "ngsild/ops.h"
#include "ngsild/parse.h"
#include "ngsild/render.h"

namespace civitas::ngsild {
namespace {

using bench::CoreContext;
using bench::kSensorEntity;

// The single-attribute update of the PATCH benchmark.
constexpr const char* kPatch = R"({"v":{"type":"Property","value":123456}})";

Entity MakeEntity() { return bench::MakeSensor(); }

void BM_ParseJson(benchmark::State& state) {
  std::string text = kSensorEntity;
  for (auto _ : state) {
    auto v = ParseJson(text);
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_ParseJson);

void BM_ParseEntityBody(benchmark::State& state) {
  auto body = ParseJson(kSensorEntity);
  const auto& ctx = CoreContext();
  for (auto _ : state) {
    auto f = ParseEntityBody(*body, ctx, {.require_id_and_type = true});
    benchmark::DoNotOptimize(f);
  }
}
BENCHMARK(BM_ParseEntityBody);

// What a PATCH costs on the I/O thread before it reaches the store: JSON parse and expansion.
void BM_ParsePatchBody(benchmark::State& state) {
  std::string text = kPatch;
  const auto& ctx = CoreContext();
  for (auto _ : state) {
    auto body = ParseJson(text);
    auto f = ParseEntityBody(*body, ctx, {});
    benchmark::DoNotOptimize(f);
  }
}
BENCHMARK(BM_ParsePatchBody);

void BM_RenderEntity(benchmark::State& state, Format format) {
  Entity e = MakeEntity();
  const auto& ctx = CoreContext();
  RenderOptions options;
  options.format = format;
  for (auto _ : state) {
    Json out = RenderEntity(e, ctx, options);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK_CAPTURE(BM_RenderEntity, normalized, Format::kNormalized);
BENCHMARK_CAPTURE(BM_RenderEntity, keyValues, Format::kKeyValues);

// Rendering plus serialization to text: the whole of a GET's CPU work after the lookup.
void BM_RenderEntityToText(benchmark::State& state) {
  Entity e = MakeEntity();
  const auto& ctx = CoreContext();
  RenderOptions options;
  std::string text;
  for (auto _ : state) {
    text.clear();
    AppendJson(text, RenderEntity(e, ctx, options));
    benchmark::DoNotOptimize(text);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_RenderEntityToText);

void BM_SerializeEntity(benchmark::State& state) {
  Entity e = MakeEntity();
  for (auto _ : state) {
    std::string record = SerializeEntity(e);
    benchmark::DoNotOptimize(record);
  }
}
BENCHMARK(BM_SerializeEntity);

void BM_DeserializeEntity(benchmark::State& state) {
  std::string record = SerializeEntity(MakeEntity());
  for (auto _ : state) {
    auto e = DeserializeEntity(record);
    benchmark::DoNotOptimize(e);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * record.size()));
}
BENCHMARK(BM_DeserializeEntity);

}  // namespace
}  // namespace civitas::ngsild

BENCHMARK_MAIN();
