// Temporal queries across many sensors, in process (issue 5): the temporal-agg-all scenario of
// bench/run.sh without HTTP, disk or a load phase through the API.
//
// 10,000 AirQualityObserved sensors, each with one NO2 observation per simulated minute over
// 1 h or 24 h, in the temporal store as recording them would leave it (see City::Record).
// One iteration is the sweep run.sh times: the hourly NO2 average of every sensor, ten pages of
// 1,000 (GET /temporal/entities ... &offset=0..9000) through Broker::Handle, responses
// serialized. The setup checks a page (status, size, one sensor's average) and aborts when it is
// wrong. See BENCHMARKS.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "api/broker.h"
#include "common/json.h"
#include "storage/backend.h"
#include "storage/entity_store.h"
#include "temporal/temporal_store.h"

namespace civitas {
namespace {

constexpr int kSensors = 10000;
constexpr int kPage = 1000;
constexpr Micros kT0 = 1'767'571'200'000'000;  // 2026-01-05T00:00:00Z, city_gen's start
constexpr Micros kMinute = 60'000'000;
const char* const kType = "https://uri.etsi.org/ngsi-ld/default-context/AirQualityObserved";
const char* const kNo2 = "https://uri.etsi.org/ngsi-ld/default-context/NO2";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "temporal_query_bench: %s\n", what.c_str());
  std::abort();
}

std::string SensorId(int i) {
  char id[64];
  std::snprintf(id, sizeof id, "urn:ngsi-ld:AirQualityObserved:%05d", i);
  return id;
}

// The "temporal" key space in memory: what TemporalStore::Load reads.
class MemoryBackend : public storage::Backend {
 public:
  Status Commit(const Batch& batch, bool) override {
    for (const auto& op : batch) {
      if (op.space != temporal::TemporalStore::kSpace) continue;
      if (op.kind == Op::Kind::kPut) {
        records_[op.key] = op.value;
      } else {
        records_.erase(op.key);
      }
    }
    return Status::Ok();
  }
  Status Scan(std::string_view space,
              const std::function<Status(std::string_view, std::string_view)>& fn) override {
    if (space != temporal::TemporalStore::kSpace) return Status::Ok();
    for (const auto& [k, v] : records_) CIVITAS_RETURN_IF_ERROR(fn(k, v));
    return Status::Ok();
  }
  uint64_t DiskBytes() override { return 0; }
  std::map<std::string, std::string>& records() { return records_; }

 private:
  std::map<std::string, std::string> records_;
};

// A broker over an empty entity store (in a temporary directory, no fsync) and a temporal
// store holding `minutes` NO2 observations of each sensor.
class City {
 public:
  explicit City(int minutes) : minutes_(minutes) {
    dir_ = std::filesystem::temp_directory_path() /
           ("civitas_tqbench_" + std::to_string(std::random_device{}()));
    auto backend = storage::OpenRocksDb({dir_.string()});
    if (!backend.ok()) Die(backend.status().detail());
    temporal_ = std::make_unique<temporal::TemporalStore>(temporal::TemporalStore::Options{});
    Record();
    auto store = storage::EntityStore::Open(std::move(*backend), {.sync = false});
    if (!store.ok()) Die(store.status().detail());
    store_ = std::move(*store);
    contexts_ = std::make_unique<jsonld::ContextRegistry>(
        jsonld::ContextRegistry::Options{}, [](const std::string&) -> Result<std::string> {
          return Status(ErrorCode::kLdContextNotAvailable, "offline");
        });
    api::Broker::Options options;
    options.temporal = temporal_.get();
    broker_ = std::make_unique<api::Broker>(*store_, *contexts_, options);
  }
  ~City() {
    broker_.reset();
    store_->Close();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  http::Response Get(const std::string& target) {
    http::Request r;
    r.method = "GET";
    r.target = target;
    size_t q = target.find('?');
    r.path = target.substr(0, q);
    r.query = q == std::string::npos ? "" : target.substr(q + 1);
    r.peer = "127.0.0.1:1";
    http::Response out;
    bool answered = false;
    broker_->Handle(std::move(r), [&](http::Response resp) {
      out = std::move(resp);
      answered = true;
    });
    if (!answered) Die("no synchronous answer to " + target);
    return out;
  }

  // The page of the sweep at this offset.
  std::string PageTarget(int offset) const {
    return "/ngsi-ld/v1/temporal/entities?type=AirQualityObserved&attrs=NO2"
           "&options=aggregatedValues&aggrMethods=avg&aggrPeriodDuration=PT1H&timerel=between"
           "&timeAt=" +
           FormatDateTime(kT0) + "&endTimeAt=" + FormatDateTime(kT0 + minutes_ * kMinute) +
           "&limit=" + std::to_string(kPage) + "&offset=" + std::to_string(offset);
  }

  double Value(int sensor, int minute) const {
    return static_cast<double>((sensor * 37 + minute * 11) % 900) / 10.0 + 5.0;
  }

  // Aborts unless the first page has kPage sensors and the first sensor's first hourly average
  // is the mean of its first hour.
  void Check() {
    http::Response r = Get(PageTarget(0));
    if (r.status != 200) Die("status " + std::to_string(r.status) + ": " + r.body);
    auto body = ParseJson(r.body);
    if (!body.ok() || !body->is_array() || body->as_array().size() != kPage) {
      Die("unexpected page: " + r.body.substr(0, 300));
    }
    const Json& first = body->as_array()[0];
    const Json* avg = first.Find("NO2") ? first.Find("NO2")->Find("avg") : nullptr;
    if (avg == nullptr || !avg->is_array() ||
        avg->as_array().size() != static_cast<size_t>((minutes_ + 59) / 60)) {
      Die("no NO2 avg: " + ToJsonString(first));
    }
    double sum = 0;
    int n = std::min(minutes_, 60);
    for (int m = 0; m < n; ++m) sum += Value(0, m);
    const Json& got = avg->as_array()[0].as_array()[0];
    if (!got.is_number() || std::abs(got.as_double() - sum / n) > 1e-9) {
      Die("wrong average: " + ToJsonString(*avg));
    }
  }

 private:
  // The first minute is recorded as a batch upsert would (TemporalStore::OnPrepare); its records
  // are the template of the others, which are written as the store would have left them (a
  // sealed chunk per 1,024 samples, the rest open) and loaded (TemporalStore::Load): recording
  // 14 million observations one commit round at a time would take minutes.
  void Record() {
    std::vector<storage::Change> changes;
    const std::string at = FormatDateTime(kT0);
    for (int i = 0; i < kSensors; ++i) {
      auto e = std::make_shared<ngsild::Entity>();
      e->id = SensorId(i);
      e->types = {kType};
      Json attr = Json::MakeObject();
      attr.Set("type", "Property");
      attr.Set("value", Json(Value(i, 0)));
      attr.Set("observedAt", at);
      e->attrs.push_back({kNo2, {std::move(attr)}});
      changes.push_back({storage::Change::Kind::kCreated, "", nullptr, e, kT0 + 1000});
    }
    temporal::TemporalStore first(temporal::TemporalStore::Options{});
    storage::Backend::Batch batch;
    first.OnPrepare(changes, &batch);
    first.OnCommitted(changes);
    MemoryBackend memory;
    if (!memory.Commit(batch, false).ok()) Die("commit");
    std::vector<std::pair<std::string, std::string>> raw;  // the first minute's sample records
    for (const auto& [k, v] : memory.records()) {
      if (k[0] == 'r') raw.emplace_back(k, v);
    }
    if (raw.size() != kSensors) Die("expected one raw record per sensor");
    constexpr size_t kChunk = 1024;  // TemporalStore::Options::chunk_samples
    for (auto& [key, value] : raw) {
      auto t = temporal::DecodeSample(value);
      if (!t.ok()) Die("template");
      // key: 'r' tenant \0 id \0 attr \0 dataset \0 be64(instance)
      const std::string series = key.substr(1, key.size() - 9);
      const int sensor = std::stoi(series.substr(series.rfind(':', series.find(kNo2)) + 1));
      memory.records().erase(key);
      std::vector<temporal::Sample> chunk;
      for (int m = 0; m < minutes_; ++m) {
        temporal::Sample s = *t;
        s.time = kT0 + m * kMinute;
        s.modified_at = s.time + 1000;
        s.number = Value(sensor, m);
        s.instance = static_cast<uint64_t>(m) * kSensors + sensor + 1;
        const bool sealed = static_cast<size_t>(m) < minutes_ / kChunk * kChunk;
        if (sealed) {
          chunk.push_back(s);
          if (chunk.size() == kChunk) {
            memory.records()["c" + series + Be64(chunk.front().instance)] =
                temporal::EncodeChunk(chunk);
            chunk.clear();
          }
        } else {
          memory.records()["r" + series + Be64(s.instance)] = temporal::EncodeSample(s);
        }
      }
    }
    if (Status st = temporal_->Load(memory); !st.ok()) Die(st.detail());
  }

  static std::string Be64(uint64_t v) {
    std::string out;
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(v >> (8 * i)));
    return out;
  }

  int minutes_;
  std::filesystem::path dir_;
  std::unique_ptr<temporal::TemporalStore> temporal_;
  std::unique_ptr<storage::EntityStore> store_;
  std::unique_ptr<jsonld::ContextRegistry> contexts_;
  std::unique_ptr<api::Broker> broker_;
};

// Destroyed by main, before the static objects the store and the broker use at exit.
std::map<int, std::unique_ptr<City>>& Cities() {
  static auto* cities = new std::map<int, std::unique_ptr<City>>;
  return *cities;
}

City& CityOf(int minutes) {
  auto& c = Cities()[minutes];
  if (!c) {
    c = std::make_unique<City>(minutes);
    c->Check();
  }
  return *c;
}

// The whole sweep: ten pages of 1,000 sensors.
void BM_AggregateAllSensors(benchmark::State& state) {
  City& city = CityOf(static_cast<int>(state.range(0)));
  std::vector<std::string> targets;
  for (int off = 0; off < kSensors; off += kPage) targets.push_back(city.PageTarget(off));
  size_t bytes = 0;
  for (auto _ : state) {
    for (const auto& t : targets) {
      http::Response r = city.Get(t);
      if (r.status != 200) Die("status " + std::to_string(r.status));
      bytes += r.body.size();
    }
  }
  state.SetItemsProcessed(state.iterations() * kSensors);
  state.counters["bytes_per_sweep"] = static_cast<double>(bytes) / state.iterations();
}
// With --benchmark_repetitions, "min" is the figure least disturbed by a busy machine.
BENCHMARK(BM_AggregateAllSensors)
    ->Arg(60)
    ->Arg(1440)
    ->Unit(benchmark::kMillisecond)
    ->ComputeStatistics("min", [](const std::vector<double>& v) {
      return *std::min_element(v.begin(), v.end());
    });

}  // namespace
}  // namespace civitas

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  civitas::Cities().clear();  // removes the temporary directories
  return 0;
}
