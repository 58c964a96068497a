// Property test: over real Aarhus data (car parks, the end points and segments of the CityPulse
// traffic sensors, the 24 local-community districts), thousands of random geo-queries give the
// same answer through the GeoIndex (candidates, then the exact filter; and its own exact answers,
// Matching and MatchingPage) as by evaluating every entity, also while entities move and disappear.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "query/geo_filter.h"
#include "storage/geo_index.h"

namespace civitas::storage {
namespace {

constexpr const char* kLocation = "https://uri.etsi.org/ngsi-ld/location";
const std::string kDataDir = CIVITAS_DATA_DIR;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::vector<std::string>> ReadCsv(const std::string& path) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(ReadFile(path));
  std::string line;
  std::getline(lines, line);  // header
  while (std::getline(lines, line)) {
    std::vector<std::string> cells;
    std::stringstream cs(line);
    std::string cell;
    while (std::getline(cs, cell, ',')) cells.push_back(cell);
    rows.push_back(std::move(cells));
  }
  return rows;
}

Json Position(double lon, double lat) { return Json(Json::Array{Json(lon), Json(lat)}); }

Json PointJson(double lon, double lat) {
  Json g = Json::MakeObject();
  g.Set("type", "Point");
  g.Set("coordinates", Position(lon, lat));
  return g;
}

ngsild::EntityPtr MakeEntity(const std::string& id, const Json& geometry) {
  ngsild::Entity e;
  e.id = id;
  e.types = {"https://example.org/Thing"};
  Json inst = Json::MakeObject();
  inst.Set("type", "GeoProperty");
  inst.Set("value", geometry);
  e.attrs = {{kLocation, {inst}}};
  return std::make_shared<const ngsild::Entity>(std::move(e));
}

class GeoIndexPropertyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const auto& row : ReadCsv(kDataDir + "/demo/garage_locations.csv")) {
      ASSERT_EQ(row.size(), 3u);
      Add("urn:park:" + row[0], PointJson(std::stod(row[2]), std::stod(row[1])));
    }
    for (const auto& row : ReadCsv(kDataDir + "/test/aarhus_traffic_points.csv")) {
      ASSERT_EQ(row.size(), 5u);
      double lat1 = std::stod(row[1]), lon1 = std::stod(row[2]);
      double lat2 = std::stod(row[3]), lon2 = std::stod(row[4]);
      Add("urn:traffic:" + row[0] + ":1", PointJson(lon1, lat1));
      Add("urn:traffic:" + row[0] + ":2", PointJson(lon2, lat2));
      Json line = Json::MakeObject();
      line.Set("type", "LineString");
      line.Set("coordinates", Json(Json::Array{Position(lon1, lat1), Position(lon2, lat2)}));
      Add("urn:segment:" + row[0], line);
    }
    auto districts =
        ParseJson(ReadFile(kDataDir + "/demo/aarhus_local_community.wgs84.geojson"), 64);
    ASSERT_TRUE(districts.ok());
    int n = 0;
    for (const auto& f : districts->Find("features")->as_array()) {
      Add("urn:district:" + std::to_string(n++), *f.Find("geometry"));
    }
    ASSERT_EQ(n, 24);
    ASSERT_GT(entities_.size(), 1300u);
    for (const auto& [id, e] : entities_) {
      // Every entity's location must be a valid geometry, or the test proves nothing for it.
      ASSERT_EQ(query::GeometriesOf(*e, kLocation).size(), 1u) << id;
      index_.OnChange("t", nullptr, e);
      // A second index of the points alone: every entity in one cell, where MatchingPage
      // merges the cells instead of collecting every match.
      if (query::GeometriesOf(*e, kLocation)[0].type == "Point") {
        point_ids_.insert(id);
        points_.OnChange("t", nullptr, e);
      }
    }
    ASSERT_GT(point_ids_.size(), 900u);
  }

  void Add(const std::string& id, const Json& geometry) {
    entities_[id] = MakeEntity(id, geometry);
  }

  std::vector<std::string> BruteForce(const query::GeoFilter& f) const {
    std::vector<std::string> out;
    for (const auto& [id, e] : entities_) {
      if (f.Matches(*e)) out.push_back(id);
    }
    return out;  // std::map: in id order
  }

  // What the broker does: candidates from the index (or everything), then the exact filter.
  std::vector<std::string> Indexed(const query::GeoFilter& f, size_t* candidates) const {
    std::vector<std::string> ids;
    auto boxes = f.query.SearchBoxes();
    std::optional<std::vector<std::string_view>> c;
    if (boxes) c = index_.Candidates("t", kLocation, *boxes);
    if (!c) {
      for (const auto& [id, e] : entities_) ids.push_back(id);
    } else {
      ids.assign(c->begin(), c->end());
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    }
    *candidates = ids.size();
    std::vector<std::string> out;
    for (const auto& id : ids) {
      auto it = entities_.find(id);
      if (it != entities_.end() && f.Matches(*it->second)) out.push_back(id);
    }
    return out;
  }

  // All vertices of all entities: query positions that land exactly on points and boundaries.
  std::vector<geo::Point> Vertices() const {
    std::vector<geo::Point> out;
    for (const auto& [id, e] : entities_) {
      for (const auto& g : query::GeometriesOf(*e, kLocation)) {
        out.insert(out.end(), g.points.begin(), g.points.end());
        for (const auto& l : g.lines) out.insert(out.end(), l.begin(), l.end());
        for (const auto& p : g.polygons) {
          for (size_t i = 0; i < p.rings[0].size(); i += 7) out.push_back(p.rings[0][i]);
        }
      }
    }
    return out;
  }

  std::map<std::string, ngsild::EntityPtr> entities_;
  GeoIndex index_;
  std::set<std::string> point_ids_;  // the ids in points_ (they stay points when they move)
  GeoIndex points_;
};

TEST_F(GeoIndexPropertyTest, IndexedAnswersEqualBruteForce) {
  const uint32_t seed = 20261201;
  std::mt19937 rng(seed);
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  auto pick = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  std::vector<geo::Point> vertices = Vertices();
  auto districts = ParseJson(ReadFile(kDataDir + "/demo/aarhus_local_community.wgs84.geojson"));
  ASSERT_TRUE(districts.ok());
  const auto& features = districts->Find("features")->as_array();

  auto random_position = [&]() -> geo::Point {
    if (rng() % 2 == 0) return vertices[pick(vertices.size())];
    return {uniform(10.0, 10.35), uniform(56.05, 56.3)};
  };
  // A query geometry: a point, a line, a box, a triangle, a coarse district, several points.
  auto random_geometry = [&]() -> std::pair<std::string, Json> {
    switch (rng() % 6) {
      case 0: {
        geo::Point p = random_position();
        return {"Point", Position(p.lon, p.lat)};
      }
      case 1: {
        Json line = Json::MakeArray();
        geo::Point p = random_position();
        line.Push(Position(p.lon, p.lat));
        for (size_t i = 0, n = 1 + rng() % 3; i < n; ++i) {
          p = {std::clamp(p.lon + uniform(-0.03, 0.03), -180.0, 180.0),
               std::clamp(p.lat + uniform(-0.02, 0.02), -90.0, 90.0)};
          line.Push(Position(p.lon, p.lat));
        }
        return {"LineString", line};
      }
      case 2: {
        geo::Point c = random_position();
        double w = uniform(0.0005, 0.08), h = uniform(0.0005, 0.05);
        Json ring = Json::MakeArray();
        for (auto [dx, dy] : {std::pair{-1, -1}, {1, -1}, {1, 1}, {-1, 1}, {-1, -1}}) {
          ring.Push(Position(c.lon + dx * w, c.lat + dy * h));
        }
        return {"Polygon", Json(Json::Array{ring})};
      }
      case 3: {
        geo::Point a = random_position();
        geo::Point b = {a.lon + uniform(-0.05, 0.05), a.lat + uniform(-0.03, 0.03)};
        geo::Point c = {a.lon + uniform(-0.05, 0.05), a.lat + uniform(-0.03, 0.03)};
        Json ring(Json::Array{Position(a.lon, a.lat), Position(b.lon, b.lat),
                              Position(c.lon, c.lat), Position(a.lon, a.lat)});
        return {"Polygon", Json(Json::Array{ring})};
      }
      case 4: {
        // A real district's outer ring, coarsened (every k-th vertex) to keep the O(n*m)
        // polygon predicates quick; first and last vertex kept so the ring stays closed.
        const Json& g = *features[pick(features.size())].Find("geometry");
        const Json* rings = g.Find("coordinates");
        const Json& outer = g.GetString("type") == "Polygon" ? rings->as_array()[0]
                                                             : rings->as_array()[0].as_array()[0];
        Json ring = Json::MakeArray();
        size_t step = std::max<size_t>(1, outer.size() / 40);
        for (size_t i = 0; i + 1 < outer.size(); i += step) ring.Push(outer.as_array()[i]);
        ring.Push(outer.as_array().front());
        if (ring.size() < 4) return {"Polygon", Json(Json::Array{outer})};
        return {"Polygon", Json(Json::Array{ring})};
      }
      default: {
        Json points = Json::MakeArray();
        for (size_t i = 0, n = 1 + rng() % 4; i < n; ++i) {
          geo::Point p = random_position();
          points.Push(Position(p.lon, p.lat));
        }
        return {"MultiPoint", points};
      }
    }
  };
  const char* rels[] = {"within", "contains", "intersects", "equals", "disjoint", "overlaps"};

  // 3,000 queries take about 15 s of CPU; the sanitizer build, ten times slower, runs 500.
#if defined(__SANITIZE_ADDRESS__)
  constexpr int kRounds = 500;
#else
  constexpr int kRounds = 3000;
#endif
  int queries = 0, nonempty = 0, pruned = 0, bounded = 0, moves = 0, answered = 0;
  std::vector<std::string> ids;
  for (const auto& [id, e] : entities_) ids.push_back(id);
  for (int round = 0; round < kRounds; ++round) {
    // Now and then entities move, vanish or come back: the index must follow.
    if (round % 100 == 99) {
      for (int k = 0; k < 20; ++k) {
        const std::string& id = ids[pick(ids.size())];
        auto it = entities_.find(id);
        ngsild::EntityPtr before = it == entities_.end() ? nullptr : it->second;
        ngsild::EntityPtr after;
        if (rng() % 4 != 0) {
          geo::Point p = random_position();
          after = MakeEntity(id, PointJson(p.lon, p.lat));
          entities_[id] = after;
        } else {
          entities_.erase(id);
        }
        index_.OnChange("t", before, after);
        if (point_ids_.count(id)) points_.OnChange("t", before, after);
        ++moves;
      }
    }
    query::GeoFilter f;
    f.property = kLocation;
    auto [type, coordinates] = random_geometry();
    std::string georel;
    switch (rng() % 8) {
      case 6:
        georel = "near;maxDistance==" + std::to_string(static_cast<int>(uniform(0, 3000)));
        break;
      case 7:
        georel = "near;minDistance==" + std::to_string(static_cast<int>(uniform(0, 10000)));
        break;
      default:
        georel = rels[rng() % 6];
    }
    std::string text;
    AppendJson(text, coordinates);
    auto parsed = geo::ParseGeoQueryParams(georel, type, text, std::nullopt);
    ASSERT_TRUE(parsed.ok()) << georel << " " << type << " " << text << ": "
                             << parsed.status().detail();
    f.query = std::move(*parsed);
    size_t candidates = 0;
    auto expected = BruteForce(f);
    auto actual = Indexed(f, &candidates);
    ASSERT_EQ(actual, expected) << "seed " << seed << " round " << round << ": " << georel << " "
                                << type << " " << text;
    // The index's own exact answer (Matching) must be the same set, each id once.
    if (auto m = index_.Matching("t", kLocation, f.query)) {
      std::vector<std::string> got(m->begin(), m->end());
      std::sort(got.begin(), got.end());
      ASSERT_EQ(got, expected) << "Matching, seed " << seed << " round " << round << ": " << georel
                               << " " << type << " " << text;
      ++answered;
      // The page of the points alone.
      std::vector<std::string> points_expected;
      for (const auto& id : expected) {
        if (point_ids_.count(id)) points_expected.push_back(id);
      }
      size_t points_want = pick(60);
      auto points_page = points_.MatchingPage("t", kLocation, f.query, points_want);
      ASSERT_TRUE(points_page.has_value());
      ASSERT_EQ(points_page->count, points_expected.size()) << "points, round " << round;
      std::vector<std::string> points_first(points_page->first.begin(), points_page->first.end());
      points_expected.resize(std::min(points_want, points_expected.size()));
      ASSERT_EQ(points_first, points_expected)
          << "points, round " << round << ": " << georel << " " << type << " " << text;
      // And its page: the count and the `want` smallest ids, in id order.
      size_t want = pick(60);
      auto page = index_.MatchingPage("t", kLocation, f.query, want);
      ASSERT_TRUE(page.has_value());
      ASSERT_EQ(page->count, expected.size()) << "MatchingPage, round " << round;
      std::vector<std::string> first(page->first.begin(), page->first.end());
      ASSERT_EQ(first, std::vector<std::string>(
                           expected.begin(),
                           expected.begin() +
                               static_cast<std::ptrdiff_t>(std::min(want, expected.size()))))
          << "MatchingPage, round " << round << ": " << georel << " " << type << " " << text;
    }
    ++queries;
    if (!expected.empty()) ++nonempty;
    if (f.query.SearchBoxes()) {
      ++bounded;
      if (candidates < entities_.size() / 2) ++pruned;
    }
  }
  // The test must exercise real matches, and the index must actually prune.
  EXPECT_EQ(queries, kRounds);
  EXPECT_GT(nonempty, queries / 3) << "too few queries with results";
  EXPECT_GT(pruned, bounded * 8 / 10) << "the index should prune most bounded queries";
  EXPECT_GT(moves, kRounds / 6);
  EXPECT_EQ(answered, bounded) << "Matching answers every query with a search area";
  RecordProperty("nonempty", nonempty);
  RecordProperty("pruned", pruned);
  std::cout << "queries=" << queries << " nonempty=" << nonempty << " bounded=" << bounded
            << " pruned=" << pruned << " moves=" << moves << "\n";
}

}  // namespace
}  // namespace civitas::storage

namespace civitas::storage {
namespace {

// Dense points, as in a city of a million sensors: hundreds per finest cell, where the index
// divides the cells that a query's border crosses and takes or drops whole parts of them
// without testing their points. A tenth of the points lie exactly on the lines that divide
// the cells. The answers of Matching and MatchingPage must equal a scan, for near;maxDistance,
// within and intersects with full-resolution districts, boxes and triangles.
TEST(GeoIndexDenseTest, DividedCellsEqualBruteForce) {
  const uint32_t seed = 20261202;
  std::mt19937 rng(seed);
  auto uniform = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  // 1/2048 degree: the finest cells (1/256 degree) divided by 8.
  auto snap = [](double degrees, double offset) {
    return std::round((degrees + offset) * 2048) / 2048 - offset;
  };
  constexpr int kPoints = 60000;  // about 380 per finest cell of the area
  const double lon0 = 10.18, lon1 = 10.24, lat0 = 56.14, lat1 = 56.18;
  std::map<std::string, ngsild::EntityPtr> entities;
  GeoIndex index;
  for (int i = 0; i < kPoints; ++i) {
    double lon = uniform(lon0, lon1), lat = uniform(lat0, lat1);
    if (i % 10 == 0) lon = snap(lon, 180);
    if (i % 10 == 1) lat = snap(lat, 90);
    char id[32];
    std::snprintf(id, sizeof id, "urn:p:%06d", i);
    auto e = MakeEntity(id, PointJson(lon, lat));
    index.OnChange("t", nullptr, e);
    entities.emplace(id, std::move(e));
  }
  auto districts = ParseJson(ReadFile(kDataDir + "/demo/aarhus_local_community.wgs84.geojson"), 64);
  ASSERT_TRUE(districts.ok());
  const auto& features = districts->Find("features")->as_array();

#if defined(__SANITIZE_ADDRESS__)
  constexpr int kRounds = 40;
#else
  constexpr int kRounds = 300;
#endif
  int nonempty = 0;
  for (int round = 0; round < kRounds; ++round) {
    std::string georel, type, coordinates;
    geo::Point c{uniform(lon0, lon1), uniform(lat0, lat1)};
    switch (round % 4) {
      case 0:
        georel = "near;maxDistance==" + std::to_string(static_cast<int>(uniform(20, 1500)));
        type = "Point";
        AppendJson(coordinates, Position(c.lon, c.lat));
        break;
      case 1: {
        georel = rng() % 2 ? "within" : "intersects";
        type = "Polygon";
        double w = uniform(0.001, 0.03), h = uniform(0.001, 0.02);
        Json ring = Json::MakeArray();
        for (auto [dx, dy] : {std::pair{-1, -1}, {1, -1}, {1, 1}, {-1, 1}, {-1, -1}}) {
          // Half of the boxes have their corners on the dividing lines.
          double lon = c.lon + dx * w, lat = c.lat + dy * h;
          if (round % 8 == 1) lon = snap(lon, 180), lat = snap(lat, 90);
          ring.Push(Position(lon, lat));
        }
        AppendJson(coordinates, Json(Json::Array{ring}));
        break;
      }
      case 2: {
        georel = rng() % 2 ? "within" : "intersects";
        type = "Polygon";
        geo::Point b{c.lon + uniform(-0.03, 0.03), c.lat + uniform(-0.02, 0.02)};
        geo::Point d{c.lon + uniform(-0.03, 0.03), c.lat + uniform(-0.02, 0.02)};
        Json ring(Json::Array{Position(c.lon, c.lat), Position(b.lon, b.lat),
                              Position(d.lon, d.lat), Position(c.lon, c.lat)});
        AppendJson(coordinates, Json(Json::Array{ring}));
        break;
      }
      default: {
        georel = rng() % 2 ? "within" : "intersects";
        const Json& g = *features[rng() % features.size()].Find("geometry");
        type = g.GetString("type");
        AppendJson(coordinates, *g.Find("coordinates"));
        break;
      }
    }
    auto parsed = geo::ParseGeoQueryParams(georel, type, coordinates, std::nullopt);
    ASSERT_TRUE(parsed.ok()) << georel << " " << type << ": " << parsed.status().detail();
    query::GeoFilter f;
    f.property = kLocation;
    f.query = std::move(*parsed);
    std::vector<std::string> expected;
    for (const auto& [id, e] : entities) {
      if (f.Matches(*e)) expected.push_back(id);
    }
    if (!expected.empty()) ++nonempty;
    auto m = index.Matching("t", kLocation, f.query);
    ASSERT_TRUE(m.has_value()) << georel;
    std::vector<std::string> got(m->begin(), m->end());
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, expected) << "Matching, seed " << seed << " round " << round << ": " << georel
                             << " " << type;
    auto page = index.MatchingPage("t", kLocation, f.query, 100);
    ASSERT_TRUE(page.has_value());
    ASSERT_EQ(page->count, expected.size()) << "MatchingPage, round " << round << ": " << georel;
    expected.resize(std::min<size_t>(100, expected.size()));
    ASSERT_EQ(std::vector<std::string>(page->first.begin(), page->first.end()), expected)
        << "MatchingPage, round " << round << ": " << georel << " " << type;
  }
  EXPECT_GT(nonempty, kRounds / 2);
}

}  // namespace
}  // namespace civitas::storage
