// Micro-benchmarks of the request hot paths that do not touch the network or the disk: JSON
// parsing, entity body parsing and expansion, rendering, and the storage serialization.
// Run: build/release/bench/civitas_micro_bench [--benchmark_filter=REGEX]

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "common/json.h"
#include "common/time.h"
#include "jsonld/context.h"
#include "ngsild/entity.h"
#include "ngsild/ops.h"
#include "ngsild/parse.h"
#include "ngsild/render.h"

namespace civitas::ngsild {
namespace {

// A sensor as the synthetic city of issue 7 has them: a handful of properties with metadata, a
// relationship and a location.
constexpr const char* kEntity = R"({
  "id": "urn:ngsi-ld:AirQualityObserved:Aarhus:0042",
  "type": "AirQualityObserved",
  "NO2": {"type": "Property", "value": 22.7, "unitCode": "GQ",
          "observedAt": "2024-03-01T12:00:00Z"},
  "PM10": {"type": "Property", "value": 14.2, "unitCode": "GQ",
           "observedAt": "2024-03-01T12:00:00Z"},
  "temperature": {"type": "Property", "value": 6.5, "unitCode": "CEL",
                  "observedAt": "2024-03-01T12:00:00Z"},
  "name": {"type": "Property", "value": "Banegårdspladsen"},
  "refDistrict": {"type": "Relationship", "object": "urn:ngsi-ld:District:Aarhus:Midtbyen"},
  "location": {"type": "GeoProperty",
               "value": {"type": "Point", "coordinates": [10.2039, 56.1496]}}
})";

// The single-attribute update of the PATCH benchmark.
constexpr const char* kPatch = R"({"v":{"type":"Property","value":123456}})";

// The core context only; a fetcher that never succeeds keeps the benchmark offline.
jsonld::ContextRegistry& Registry() {
  static jsonld::ContextRegistry r({}, [](const std::string&) -> Result<std::string> {
    return Status(ErrorCode::kLdContextNotAvailable, "offline");
  });
  return r;
}

Entity MakeEntity() {
  auto body = ParseJson(kEntity);
  if (!body.ok()) std::abort();
  auto f = ParseEntityBody(*body, *Registry().Core(), {.require_id_and_type = true});
  if (!f.ok()) std::abort();
  return CreateEntity(std::move(*f), NowMicros());
}

void BM_ParseJson(benchmark::State& state) {
  std::string text = kEntity;
  for (auto _ : state) {
    auto v = ParseJson(text);
    benchmark::DoNotOptimize(v);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_ParseJson);

void BM_ParseEntityBody(benchmark::State& state) {
  auto body = ParseJson(kEntity);
  auto ctx = Registry().Core();
  for (auto _ : state) {
    auto f = ParseEntityBody(*body, *ctx, {.require_id_and_type = true});
    benchmark::DoNotOptimize(f);
  }
}
BENCHMARK(BM_ParseEntityBody);

// What a PATCH costs on the I/O thread before it reaches the store: JSON parse and expansion.
void BM_ParsePatchBody(benchmark::State& state) {
  std::string text = kPatch;
  auto ctx = Registry().Core();
  for (auto _ : state) {
    auto body = ParseJson(text);
    auto f = ParseEntityBody(*body, *ctx, {});
    benchmark::DoNotOptimize(f);
  }
}
BENCHMARK(BM_ParsePatchBody);

void BM_RenderEntity(benchmark::State& state, Format format) {
  Entity e = MakeEntity();
  auto ctx = Registry().Core();
  RenderOptions options;
  options.format = format;
  for (auto _ : state) {
    Json out = RenderEntity(e, *ctx, options);
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK_CAPTURE(BM_RenderEntity, normalized, Format::kNormalized);
BENCHMARK_CAPTURE(BM_RenderEntity, keyValues, Format::kKeyValues);

// Rendering plus serialization to text: the whole of a GET's CPU work after the lookup.
void BM_RenderEntityToText(benchmark::State& state) {
  Entity e = MakeEntity();
  auto ctx = Registry().Core();
  RenderOptions options;
  std::string text;
  for (auto _ : state) {
    text.clear();
    AppendJson(text, RenderEntity(e, *ctx, options));
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
