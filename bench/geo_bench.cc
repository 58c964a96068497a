// In-process geo-query benchmark: the GeoIndex and the exact filter over N random point entities
// in the Aarhus area (no HTTP, no store): what a GET /entities geo-query costs inside the broker
// before rendering. Usage: civitas_geo_bench [N] [DATA_DIR]   (defaults: 1000000, ./data)
//
// Reports p50/p90/p99 over 200 queries each of
//  - near;maxDistance==500 around a random position, first page of 100;
//  - within a real district polygon (the 24 local communities), a page of 100 with count
//    (so every match is evaluated).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "query/geo_filter.h"
#include "storage/geo_index.h"

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
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> lon(10.05, 10.30), lat(56.08, 56.25);

  std::map<std::string, ngsild::EntityPtr, std::less<>> entities;
  storage::GeoIndex index;
  auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < n; ++i) {
    char id[48];
    std::snprintf(id, sizeof id, "urn:ngsi-ld:Sensor:%08zu", i);
    auto e = MakePoint(id, lon(rng), lat(rng));
    index.OnChange("t", nullptr, e);
    entities.emplace(id, std::move(e));
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

  // Runs one query the way the broker does: candidates in id order, the filter, a page.
  auto run = [&](const query::GeoFilter& f, size_t limit, bool count, size_t* matched) {
    auto boxes = f.query.SearchBoxes();
    auto ids = index.Candidates("t", kLocation, *boxes);
    std::sort(ids->begin(), ids->end());
    std::vector<ngsild::EntityPtr> page;
    size_t m = 0;
    for (std::string_view id : *ids) {
      auto it = entities.find(id);
      if (it == entities.end() || !f.Matches(*it->second)) continue;
      if (page.size() < limit) page.push_back(it->second);
      ++m;
      if (!count && page.size() == limit) break;
    }
    *matched = m;
  };
  auto time_ms = [](auto&& fn) {
    auto s = std::chrono::steady_clock::now();
    fn();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - s).count();
  };

  std::vector<double> near_ms, within_ms;
  size_t near_matches = 0, within_matches = 0;
  for (int i = 0; i < 200; ++i) {
    std::string coords;
    AppendJson(coords, Position(lon(rng), lat(rng)));
    query::GeoFilter f{
        *geo::ParseGeoQueryParams("near;maxDistance==500", "Point", coords, std::nullopt),
        kLocation};
    size_t m = 0;
    near_ms.push_back(time_ms([&] { run(f, 100, false, &m); }));
    near_matches += m;
  }
  for (int i = 0; i < 200; ++i) {
    const Json& poly = polygons[i % polygons.size()];
    std::string coords;
    AppendJson(coords, *poly.Find("coordinates"));
    query::GeoFilter f{*geo::ParseGeoQueryParams("within", "Polygon", coords, std::nullopt),
                       kLocation};
    size_t m = 0;
    within_ms.push_back(time_ms([&] { run(f, 100, true, &m); }));
    within_matches += m;
  }
  Stats near = Percentiles(near_ms), within = Percentiles(within_ms);
  std::printf("entities=%zu load=%.1fs\n", n, load_s);
  std::printf(
      "near;maxDistance==500 page=100: p50=%.3f ms p90=%.3f ms p99=%.3f ms (avg page %.0f)\n",
      near.p50, near.p90, near.p99, near_matches / 200.0);
  std::printf(
      "within district, limit=100&count=true: p50=%.3f ms p90=%.3f ms p99=%.3f ms "
      "(avg matches %.0f)\n",
      within.p50, within.p90, within.p99, within_matches / 200.0);
  return 0;
}
