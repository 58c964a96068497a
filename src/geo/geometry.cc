#include "geo/geometry.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace civitas::geo {
namespace {

Status Bad(const std::string& where, const std::string& what) {
  return Status::BadRequest("invalid GeoJSON geometry: " + where + ": " + what);
}

std::string Num(double v) {
  std::string s;
  AppendJson(s, Json(v));
  return s;
}

// `where` is only turned into a string when there is an error to report: geometries are parsed
// on every write and query, and building a path per position would dominate the cost.
struct Path {
  const std::string& base;
  long index = -1;  // appended as [index] when >= 0
  std::string str() const { return index < 0 ? base : base + "[" + std::to_string(index) + "]"; }
};

Result<Point> ParsePosition(const Json& p, const Path& where) {
  if (!p.is_array() || p.size() < 2 || p.size() > 3) {
    return Bad(where.str(), "a position must be an array of 2 or 3 numbers");
  }
  for (const auto& c : p.as_array()) {
    if (!c.is_number() || !std::isfinite(c.as_double())) {
      return Bad(where.str(), "a position must contain numbers");
    }
  }
  Point pt{p.as_array()[0].as_double(), p.as_array()[1].as_double()};
  if (pt.lon < -180 || pt.lon > 180) {
    return Bad(where.str(), "longitude " + Num(pt.lon) + " is out of range [-180, 180]");
  }
  if (pt.lat < -90 || pt.lat > 90) {
    return Bad(where.str(), "latitude " + Num(pt.lat) + " is out of range [-90, 90]");
  }
  return pt;
}

Result<Point> ParsePosition(const Json& p, const std::string& where) {
  return ParsePosition(p, Path{where});
}

Result<std::vector<Point>> ParsePositions(const Json& a, size_t min, const std::string& where,
                                          const char* what) {
  if (!a.is_array()) return Bad(where, std::string(what) + " must be an array of positions");
  if (a.size() < min) {
    return Bad(where, std::string(what) + " needs at least " + std::to_string(min) + " positions");
  }
  std::vector<Point> out;
  out.reserve(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    auto p = ParsePosition(a.as_array()[i], Path{where, static_cast<long>(i)});
    if (!p.ok()) return p.status();
    out.push_back(*p);
  }
  return out;
}

Result<Polygon> ParsePolygon(const Json& c, const std::string& where) {
  if (!c.is_array() || c.size() == 0) {
    return Bad(where, "a Polygon needs an array of at least one linear ring");
  }
  Polygon poly;
  for (size_t i = 0; i < c.size(); ++i) {
    std::string w = where + "[" + std::to_string(i) + "]";
    auto ring = ParsePositions(c.as_array()[i], 4, w, "a linear ring");
    if (!ring.ok()) return ring.status();
    if (!(ring->front() == ring->back())) {
      return Bad(w, "a linear ring must be closed (its last position equal to its first)");
    }
    poly.rings.push_back(std::move(*ring));
  }
  return poly;
}

void Extend(Box& b, bool& first, const Point& p) {
  if (first) {
    b = {p.lon, p.lat, p.lon, p.lat};
    first = false;
    return;
  }
  b.min_lon = std::min(b.min_lon, p.lon);
  b.max_lon = std::max(b.max_lon, p.lon);
  b.min_lat = std::min(b.min_lat, p.lat);
  b.max_lat = std::max(b.max_lat, p.lat);
}

void ComputeBox(Geometry& g) {
  bool first = true;
  for (const auto& p : g.points) Extend(g.box, first, p);
  for (const auto& l : g.lines) {
    for (const auto& p : l) Extend(g.box, first, p);
  }
  // Every ring, not just the outer one: nothing checks that holes lie inside their shell, and
  // the predicates look at every ring (a fuzzer found the difference).
  for (const auto& poly : g.polygons) {
    for (const auto& ring : poly.rings) {
      for (const auto& p : ring) Extend(g.box, first, p);
    }
  }
}

// Adds the parts of one typed geometry to g.
Status AddParts(Geometry& g, std::string_view type, const Json& c, const std::string& where) {
  if (type == "Point") {
    auto p = ParsePosition(c, where);
    if (!p.ok()) return p.status();
    g.points.push_back(*p);
  } else if (type == "MultiPoint") {
    auto ps = ParsePositions(c, 0, where, "MultiPoint coordinates");
    if (!ps.ok()) return ps.status();
    g.points.insert(g.points.end(), ps->begin(), ps->end());
  } else if (type == "LineString") {
    auto ps = ParsePositions(c, 2, where, "a LineString");
    if (!ps.ok()) return ps.status();
    g.lines.push_back(std::move(*ps));
  } else if (type == "MultiLineString") {
    if (!c.is_array()) return Bad(where, "MultiLineString coordinates must be an array");
    for (size_t i = 0; i < c.size(); ++i) {
      auto ps =
          ParsePositions(c.as_array()[i], 2, where + "[" + std::to_string(i) + "]", "a LineString");
      if (!ps.ok()) return ps.status();
      g.lines.push_back(std::move(*ps));
    }
  } else if (type == "Polygon") {
    auto poly = ParsePolygon(c, where);
    if (!poly.ok()) return poly.status();
    g.polygons.push_back(std::move(*poly));
  } else if (type == "MultiPolygon") {
    if (!c.is_array()) return Bad(where, "MultiPolygon coordinates must be an array");
    for (size_t i = 0; i < c.size(); ++i) {
      auto poly = ParsePolygon(c.as_array()[i], where + "[" + std::to_string(i) + "]");
      if (!poly.ok()) return poly.status();
      g.polygons.push_back(std::move(*poly));
    }
  } else {
    return Bad(where, "unknown geometry type '" + std::string(type) + "'");
  }
  return Status::Ok();
}

Status AddObject(Geometry& g, const Json& v, const std::string& where) {
  if (!v.is_object()) return Bad(where, "a geometry must be a JSON object");
  const Json* t = v.Find("type");
  if (t == nullptr || !t->is_string()) return Bad(where, "a geometry needs a \"type\" string");
  const std::string& type = t->as_string();
  if (type == "GeometryCollection") {
    const Json* gs = v.Find("geometries");
    if (gs == nullptr || !gs->is_array()) {
      return Bad(where, "a GeometryCollection needs a \"geometries\" array");
    }
    for (size_t i = 0; i < gs->size(); ++i) {
      CIVITAS_RETURN_IF_ERROR(
          AddObject(g, gs->as_array()[i], where + ".geometries[" + std::to_string(i) + "]"));
    }
    return Status::Ok();
  }
  if (!IsGeometryTypeName(type)) return Bad(where, "unknown geometry type '" + type + "'");
  const Json* c = v.Find("coordinates");
  if (c == nullptr) return Bad(where, "a " + type + " needs \"coordinates\"");
  return AddParts(g, type, *c, where + ".coordinates");
}

}  // namespace

int Geometry::Dimension() const {
  if (!polygons.empty()) return 2;
  if (!lines.empty()) return 1;
  return 0;
}

bool IsGeometryTypeName(std::string_view type) {
  for (std::string_view t : {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                             "MultiPolygon", "GeometryCollection"}) {
    if (t == type) return true;
  }
  return false;
}

Result<Geometry> ParseGeoJson(const Json& value) {
  Geometry g;
  CIVITAS_RETURN_IF_ERROR(AddObject(g, value, "geometry"));
  g.type = std::string(value.GetString("type"));
  ComputeBox(g);
  return g;
}

Result<Geometry> ParseGeometry(std::string_view type, const Json& coordinates) {
  if (type == "GeometryCollection" || !IsGeometryTypeName(type)) {
    return Status::BadRequest("unknown geometry type '" + std::string(type) + "'");
  }
  Geometry g;
  CIVITAS_RETURN_IF_ERROR(AddParts(g, type, coordinates, "coordinates"));
  g.type = std::string(type);
  ComputeBox(g);
  return g;
}

}  // namespace civitas::geo
