// In-process geo-query benchmark: N random point entities in the Aarhus area in an EntityStore
// with its QueryIndex and GeoIndex, queried through storage::RunQuery (no HTTP, no rendering):
// what a GET /entities geo-query costs inside the broker before rendering.
// Usage: civitas_geo_bench [N] [DATA_DIR] [ROUNDS]   (defaults: 1000000, ./data, 200)
//
// Reports p50/p90/p99 over ROUNDS queries each, both with limit=100&count=true as in bench/run.sh:
//  - near;maxDistance==500 around a random position;
//  - within a real district polygon (the 24 local communities).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <sstream>

#include <unistd.h>

#include "query/geo_filter.h"
#include "storage/entity_store.h"
#include "storage/geo_index.h"
#include "storage/query_index.h"
#include "storage/query_runner.h"

namespace {

using namespace civitas;
constexpr const char* kLocation = "https://uri.etsi.org/ngsi-ld/location";

Json Position(double lon, double lat) { return Json(Json::Array{Json(lon), Json(lat)}); }

ngsild::EntityPtr MakePoint(const std::string& id, double lon, double lat) {
  ngsild::Entity e;
  e.id = id;
  e.types = {"https://example.org/Sensor"};
  Json g = Json::MakeObject();
  g.Set("type", "Point");
  g.Set("coordinates", Position(lon, lat));
  Json inst = Json::MakeObject();
  inst.Set("type", "GeoProperty");
  inst.Set("value", std::move(g));
  e.attrs = {{kLocation, {inst}}};
  return std::make_shared<const ngsild::Entity>(std::move(e));
}

struct Stats {
  double p50, p90, p99;
};

Stats Percentiles(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  return {at(0.5), at(0.9), at(0.99)};
}

}  // namespace

int main(int argc, char** argv) {
  size_t n = argc > 1 ? std::stoul(argv[1]) : 1000000;
  std::string data = argc > 2 ? argv[2] : "data";
  const int rounds = argc > 3 ? std::stoi(argv[3]) : 200;  // queries of each kind
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> lon(10.05, 10.30), lat(56.08, 56.25);

  // The store as the server has it (RocksDB without fsync here: loading is not what is timed),
  // with both indexes.
  auto dir = std::filesystem::temp_directory_path() /
             ("civitas_geo_bench_" + std::to_string(::getpid()));
  auto backend = storage::OpenRocksDb({dir.string()});
  if (!backend.ok()) {
    std::fprintf(stderr, "geo_bench: %s\n", backend.status().detail().c_str());
    return 1;
  }
  storage::QueryIndex query_index;
  storage::GeoIndex geo_index;
  auto opened = storage::EntityStore::Open(std::move(*backend), {.sync = false});
  if (!opened.ok()) {
    std::fprintf(stderr, "geo_bench: %s\n", opened.status().detail().c_str());
    return 1;
  }
  std::unique_ptr<storage::EntityStore> store = std::move(*opened);
  store->AddIndex(&query_index);
  store->AddIndex(&geo_index);
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n;) {
    std::vector<storage::WriteOp> ops;
    for (size_t k = 0; k < 10000 && i < n; ++k, ++i) {
      char id[48];
      std::snprintf(id, sizeof id, "urn:ngsi-ld:Sensor:%08zu", i);
      auto e = MakePoint(id, lon(rng), lat(rng));
      ops.push_back({"t", id, [e](const storage::EntityPtr&, Micros) -> Result<storage::Outcome> {
                       return storage::Outcome::Put(*e);
                     }});
    }
    std::promise<void> done;
    store->Submit(std::move(ops), [&done](std::vector<Status>) { done.set_value(); });
    done.get_future().get();
  }
  double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::ifstream in(data + "/demo/aarhus_local_community.wgs84.geojson");
  std::stringstream ss;
  ss << in.rdbuf();
  auto districts = ParseJson(ss.str());
  if (!districts.ok()) {
    std::fprintf(stderr, "cannot read the districts under %s\n", data.c_str());
    return 1;
  }
  std::vector<Json> polygons;
  for (const auto& f : districts->Find("features")->as_array()) {
    if (f.Find("geometry")->GetString("type") == "Polygon") polygons.push_back(*f.Find("geometry"));
  }

  // One query the way GET /entities runs it (storage::RunQuery), before rendering.
  auto run = [&](const query::GeoFilter& geo, size_t* matched) {
    query::EntityFilter filter;
    filter.geo = geo;
    storage::QuerySpec spec;
    spec.filter = &filter;
    spec.limit = 100;
    spec.count = true;
    storage::QueryPage page = storage::RunQuery(*store, &query_index, &geo_index, "t", spec);
    *matched = static_cast<size_t>(page.matched);
  };
  auto time_ms = [](auto&& fn) {
    auto s = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count();
  };

  std::vector<double> near_ms, within_ms;
  size_t near_matches = 0, within_matches = 0;
  for (int i = 0; i < rounds; ++i) {
    std::string coords;
    AppendJson(coords, Position(lon(rng), lat(rng)));
    query::GeoFilter f{
        *geo::ParseGeoQueryParams("near;maxDistance==500", "Point", coords, std::nullopt),
        kLocation};
    size_t m = 0;
    near_ms.push_back(time_ms([&] { run(f, &m); }));
    near_matches += m;
  }
  for (int i = 0; i < rounds; ++i) {
    const Json& poly = polygons[i % polygons.size()];
    std::string coords;
    AppendJson(coords, *poly.Find("coordinates"));
    query::GeoFilter f{*geo::ParseGeoQueryParams("within", "Polygon", coords, std::nullopt),
                       kLocation};
    size_t m = 0;
    within_ms.push_back(time_ms([&] { run(f, &m); }));
    within_matches += m;
  }
  Stats near = Percentiles(near_ms), within = Percentiles(within_ms);
  std::printf("entities=%zu load=%.1fs\n", n, load_s);
  std::printf(
      "near;maxDistance==500, limit=100&count=true: p50=%.3f ms p90=%.3f ms p99=%.3f ms "
      "(avg matches %.0f)\n",
      near.p50, near.p90, near.p99, near_matches / static_cast<double>(rounds));
  std::printf(
      "within district, limit=100&count=true: p50=%.3f ms p90=%.3f ms p99=%.3f ms "
      "(avg matches %.0f)\n",
      within.p50, within.p90, within.p99, within_matches / static_cast<double>(rounds));
  store.reset();
  std::filesystem::remove_all(dir);
  return 0;
}
