// fuzz_geo: GeoJSON geometries (geo::ParseGeoJson) and geo-queries (geo::ParseGeoQueryJson, and
// the URL form geo::ParseGeoQueryParams with the input's lines as georel, geometry,
// coordinates and geoproperty).
//
// Properties:
//  - every error is BadRequestData;
//  - a parsed geometry lies inside its bounding box and has valid longitudes and latitudes;
//  - a non-empty geometry intersects itself, is at distance 0 from itself, and Disjoint is the
//    negation of Intersects; Contains(a, b) == Within(b, a) (against fixed geometries);
//  - GeoQuery::Matches (which may use prepared polygons) agrees with the predicates;
//  - a parsed geo-query matching one of a few fixed geometries (a point, a line, a polygon with
//    a hole) has search boxes, if any, that the geometry's box intersects: the spatial index
//    would have proposed it (index soundness).

#include <string>
#include <vector>

#include "check.h"
#include "common/json.h"
#include "geo/geo_query.h"
#include "geo/predicates.h"
#include "targets.h"

namespace civitas::fuzz {
namespace {

// Predicates are O(n*m); larger inputs are parsed and checked but not compared pairwise.
constexpr size_t kMaxVertices = 300;

size_t Vertices(const geo::Geometry& g) {
  size_t n = g.points.size();
  for (const auto& l : g.lines) n += l.size();
  for (const auto& p : g.polygons) {
    for (const auto& r : p.rings) n += r.size();
  }
  return n;
}

const std::vector<geo::Geometry>& Fixed() {
  static const std::vector<geo::Geometry> fixed = [] {
    std::vector<geo::Geometry> out;
    for (const char* text : {
             R"({"type":"Point","coordinates":[10.2,56.15]})",
             R"({"type":"LineString","coordinates":[[10.1,56.1],[10.3,56.2]]})",
             R"({"type":"Polygon","coordinates":[[[10,56],[10.4,56],[10.4,56.3],[10,56.3],[10,56]],
                 [[10.1,56.1],[10.2,56.1],[10.2,56.2],[10.1,56.2],[10.1,56.1]]]})",
             R"({"type":"Point","coordinates":[179.99,-89.99]})",
         }) {
      out.push_back(*geo::ParseGeoJson(*ParseJson(text)));
    }
    return out;
  }();
  return fixed;
}

void CheckGeometry(const geo::Geometry& g, const std::string& where) {
  auto inside = [&](const geo::Point& p) {
    FUZZ_CHECK(p.lon >= -180 && p.lon <= 180 && p.lat >= -90 && p.lat <= 90,
               where + ": position out of range");
    FUZZ_CHECK(p.lon >= g.box.min_lon && p.lon <= g.box.max_lon && p.lat >= g.box.min_lat &&
                   p.lat <= g.box.max_lat,
               where + ": position outside the bounding box");
  };
  for (const auto& p : g.points) inside(p);
  for (const auto& l : g.lines) {
    FUZZ_CHECK(l.size() >= 2, where + ": a line of fewer than 2 positions");
    for (const auto& p : l) inside(p);
  }
  for (const auto& poly : g.polygons) {
    FUZZ_CHECK(!poly.rings.empty(), where + ": a polygon without rings");
    for (const auto& r : poly.rings) {
      FUZZ_CHECK(r.size() >= 4 && r.front() == r.back(), where + ": an open or short ring");
    }
    for (const auto& r : poly.rings) {
      for (const auto& p : r) inside(p);
    }
  }
  if (Vertices(g) > kMaxVertices) return;
  if (!g.empty()) {
    FUZZ_CHECK(geo::Intersects(g, g), where + ": does not intersect itself");
    FUZZ_CHECK(geo::DistanceMeters(g, g) == 0, where + ": non-zero distance to itself");
  }
  for (const auto& f : Fixed()) {
    bool i = geo::Intersects(g, f);
    FUZZ_CHECK(geo::Disjoint(g, f) == !i, where + ": Disjoint is not !Intersects");
    FUZZ_CHECK(geo::Intersects(f, g) == i, where + ": Intersects is not symmetric");
    FUZZ_CHECK(geo::Contains(f, g) == geo::Within(g, f), where + ": Contains != reverse Within");
    if (geo::Within(g, f)) FUZZ_CHECK(i, where + ": within but not intersecting");
    double d = geo::DistanceMeters(g, f);
    FUZZ_CHECK(d >= 0 && (d == 0) == i, where + ": distance disagrees with Intersects");
  }
}

void CheckQuery(const geo::GeoQuery& q, const std::string& where) {
  FUZZ_CHECK(!q.geometry.empty(), where + ": a geo-query without geometry");
  FUZZ_CHECK(
      q.rel != geo::GeoRel::kNear || (q.max_distance.has_value() != q.min_distance.has_value()),
      where + ": near needs exactly one distance");
  CheckGeometry(q.geometry, where);
  if (Vertices(q.geometry) > kMaxVertices) return;
  auto boxes = q.SearchBoxes();
  for (const auto& f : Fixed()) {
    // Matches may take a shortcut (prepared polygons); it must agree with the predicates.
    bool expected = true;
    switch (q.rel) {
      case geo::GeoRel::kWithin:
        expected = geo::Within(f, q.geometry);
        break;
      case geo::GeoRel::kIntersects:
        expected = geo::Intersects(f, q.geometry);
        break;
      case geo::GeoRel::kDisjoint:
        expected = geo::Disjoint(f, q.geometry);
        break;
      case geo::GeoRel::kContains:
        expected = geo::Contains(f, q.geometry);
        break;
      default:
        expected = q.Matches(f);
    }
    FUZZ_CHECK(q.Matches(f) == expected, where + ": Matches disagrees with the predicates");
    if (!q.Matches(f) || !boxes) continue;
    bool proposed = false;
    for (const auto& b : *boxes) proposed = proposed || b.Intersects(f.box);
    FUZZ_CHECK(proposed, where + ": a match outside every search box");
  }
}

}  // namespace

void FuzzGeo(std::string_view data) {
  if (auto json = ParseJson(data, 32); json.ok()) {
    auto g = geo::ParseGeoJson(*json);
    if (g.ok()) {
      CheckGeometry(*g, "geometry");
    } else {
      FUZZ_CHECK(g.status().code() == ErrorCode::kBadRequestData, g.status().detail());
    }
    auto q = geo::ParseGeoQueryJson(*json);
    if (q.ok()) {
      CheckQuery(*q, "geoQ");
    } else {
      FUZZ_CHECK(q.status().code() == ErrorCode::kBadRequestData, q.status().detail());
    }
  }
  // The URL form: up to four lines; a missing line is a missing parameter.
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= data.size() && lines.size() < 4) {
    size_t nl = data.find('\n', start);
    if (nl == std::string_view::npos) nl = data.size();
    lines.push_back(data.substr(start, nl - start));
    start = nl + 1;
  }
  auto line = [&](size_t i) -> std::optional<std::string_view> {
    if (i >= lines.size()) return std::nullopt;
    return lines[i];
  };
  auto q = geo::ParseGeoQueryParams(line(0), line(1), line(2), line(3));
  if (q.ok()) {
    CheckQuery(*q, "URL geo-query");
  } else {
    FUZZ_CHECK(q.status().code() == ErrorCode::kBadRequestData, q.status().detail());
  }
}

}  // namespace civitas::fuzz
