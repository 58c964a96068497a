// Micro-benchmarks of the history chunk codecs (src/temporal/chunk.h): the time column (delta
// of delta, or frame of reference), the decimal value column (ALP-style scaling, bit-packed),
// and whole chunks of 1,024 samples as the temporal store seals them. Every benchmark reports
// bytes per observation of what it encodes (`bytes_per_obs`) and observations per second.

#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "temporal/chunk.h"

namespace civitas::temporal {
namespace {

constexpr size_t kChunkSamples = 1024;      // the store seals a series at this many
constexpr Micros kT0 = 1709251200000000LL;  // 2024-03-01T00:00:00Z
constexpr Micros kMinute = 60 * 1000000LL;

// A sensor reporting every 60 s of simulated time (as the synthetic city does), NO2-like
// readings with one decimal drifting around a daily pattern. live: each reading a PATCH of its
// own (the attribute's createdAt fixed, modifiedAt = observedAt + 50-350 ms of arrival delay,
// ms precision: noise no codec removes); else uploaded in hourly batches (createdAt =
// modifiedAt = the batch's commit time).
std::vector<Sample> SensorSeries(bool live) {
  std::mt19937 rng(42);
  std::vector<Sample> out;
  double level = 25.0;
  for (size_t i = 0; i < kChunkSamples; ++i) {
    Sample s;
    s.time = kT0 + static_cast<Micros>(i) * kMinute;
    double daily = 12.0 * std::sin(2 * M_PI * static_cast<double>(i) / 1440.0);
    level += (static_cast<int>(rng() % 11) - 5) / 10.0;
    s.number = std::round((level + daily) * 10) / 10;
    s.instance = i + 1;
    if (live) {
      s.created_at = kT0 - 1000;
      s.modified_at = s.time + (50 + static_cast<Micros>(rng() % 300)) * 1000;
    } else {
      s.created_at = s.modified_at = kT0 + static_cast<Micros>(i / 60 + 1) * 60 * kMinute;
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<int64_t> Times(const std::vector<Sample>& samples) {
  std::vector<int64_t> v;
  for (const auto& s : samples) v.push_back(s.time);
  return v;
}

std::vector<double> Values(const std::vector<Sample>& samples) {
  std::vector<double> v;
  for (const auto& s : samples) v.push_back(*s.number);
  return v;
}

void Report(benchmark::State& state, size_t bytes, size_t n) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
  state.counters["bytes_per_obs"] = static_cast<double>(bytes) / static_cast<double>(n);
}

void BM_EncodeTimes(benchmark::State& state) {
  auto times = Times(SensorSeries(false));
  std::string out;
  for (auto _ : state) {
    out.clear();
    EncodeInts(times, &out);
    benchmark::DoNotOptimize(out);
  }
  Report(state, out.size(), times.size());
}
BENCHMARK(BM_EncodeTimes);

void BM_DecodeTimes(benchmark::State& state) {
  auto times = Times(SensorSeries(false));
  std::string encoded;
  EncodeInts(times, &encoded);
  std::vector<int64_t> back;
  for (auto _ : state) {
    back.clear();
    std::string_view in = encoded;
    if (!DecodeInts(&in, times.size(), &back)) std::abort();
    benchmark::DoNotOptimize(back);
  }
  if (back != times) std::abort();
  Report(state, encoded.size(), times.size());
}
BENCHMARK(BM_DecodeTimes);

void BM_EncodeValues(benchmark::State& state) {
  auto values = Values(SensorSeries(false));
  std::string out;
  for (auto _ : state) {
    out.clear();
    EncodeDoubles(values, &out);
    benchmark::DoNotOptimize(out);
  }
  Report(state, out.size(), values.size());
}
BENCHMARK(BM_EncodeValues);

void BM_DecodeValues(benchmark::State& state) {
  auto values = Values(SensorSeries(false));
  std::string encoded;
  EncodeDoubles(values, &encoded);
  std::vector<double> back;
  for (auto _ : state) {
    back.clear();
    std::string_view in = encoded;
    if (!DecodeDoubles(&in, values.size(), &back)) std::abort();
    benchmark::DoNotOptimize(back);
  }
  if (back != values) std::abort();
  Report(state, encoded.size(), values.size());
}
BENCHMARK(BM_DecodeValues);

// Whole chunks: every column (time, createdAt, modifiedAt, instance, value) and the header.
void BM_EncodeChunk(benchmark::State& state) {
  auto samples = SensorSeries(state.range(0) != 0);
  std::string chunk;
  for (auto _ : state) {
    chunk = EncodeChunk(samples);
    benchmark::DoNotOptimize(chunk);
  }
  Report(state, chunk.size(), samples.size());
  state.SetLabel(state.range(0) != 0 ? "live" : "uploaded");
}
BENCHMARK(BM_EncodeChunk)->Arg(0)->Arg(1);

void BM_DecodeChunk(benchmark::State& state) {
  auto samples = SensorSeries(state.range(0) != 0);
  std::string chunk = EncodeChunk(samples);
  for (auto _ : state) {
    auto back = DecodeChunk(chunk);
    benchmark::DoNotOptimize(back);
  }
  auto back = DecodeChunk(chunk);
  if (!back.ok() || *back != samples) std::abort();
  Report(state, chunk.size(), samples.size());
  state.SetLabel(state.range(0) != 0 ? "live" : "uploaded");
}
BENCHMARK(BM_DecodeChunk)->Arg(0)->Arg(1);

}  // namespace
}  // namespace civitas::temporal
