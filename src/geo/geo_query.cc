#include "geo/geo_query.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <numbers>

#include "geo/predicates.h"

namespace civitas::geo {
namespace {

Status Bad(std::string detail) { return Status::BadRequest(std::move(detail)); }

// A non-negative finite decimal number, nothing else (strtod alone would accept "inf", hex and
// leading spaces).
bool ParseDistance(std::string_view text, double* out) {
  if (text.empty() || text.size() > 32) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) {
      return false;
    }
  }
  if (text[0] < '0' || text[0] > '9') return false;
  std::string s(text);
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v < 0) return false;
  *out = v;
  return true;
}

Result<GeoQuery> Finish(GeoQuery q, std::string_view geometry, const Json& coordinates) {
  if (geometry.empty()) return Bad("a geo-query needs a geometry");
  if (geometry == "GeometryCollection" || !IsGeometryTypeName(geometry)) {
    return Bad("unknown geo-query geometry '" + std::string(geometry) + "'");
  }
  auto g = ParseGeometry(geometry, coordinates);
  if (!g.ok()) return Bad("geo-query " + g.status().detail());
  if (g->empty()) return Bad("geo-query coordinates: the geometry is empty");
  q.geometry = std::move(*g);
  if (!q.geometry.polygons.empty()) q.prepared = std::make_shared<PreparedPolygons>(q.geometry);
  return q;
}

constexpr double kMetersPerDegree = kEarthRadiusMeters * std::numbers::pi / 180;

}  // namespace

Status ParseGeoRel(std::string_view text, GeoQuery* q) {
  static constexpr std::pair<std::string_view, GeoRel> kRels[] = {
      {"within", GeoRel::kWithin},         {"contains", GeoRel::kContains},
      {"intersects", GeoRel::kIntersects}, {"equals", GeoRel::kEquals},
      {"disjoint", GeoRel::kDisjoint},     {"overlaps", GeoRel::kOverlaps},
  };
  for (const auto& [name, rel] : kRels) {
    if (text == name) {
      q->rel = rel;
      q->max_distance.reset();
      q->min_distance.reset();
      return Status::Ok();
    }
  }
  constexpr std::string_view kNear = "near;";
  if (text.starts_with(kNear)) {
    std::string_view rest = text.substr(kNear.size());
    for (std::string_view key : {"maxDistance==", "minDistance=="}) {
      if (!rest.starts_with(key)) continue;
      double d = 0;
      if (!ParseDistance(rest.substr(key.size()), &d)) {
        return Bad("georel '" + std::string(text) +
                   "': the distance must be a non-negative number of metres");
      }
      q->rel = GeoRel::kNear;
      q->max_distance.reset();
      q->min_distance.reset();
      (key[1] == 'a' ? q->max_distance : q->min_distance) = d;
      return Status::Ok();
    }
    return Bad("georel '" + std::string(text) + "': near needs maxDistance==N or minDistance==N");
  }
  return Bad("unknown georel '" + std::string(text) +
             "' (expected near;maxDistance==N, near;minDistance==N, within, contains, "
             "intersects, equals, disjoint or overlaps)");
}

Result<GeoQuery> ParseGeoQueryParams(std::optional<std::string_view> georel,
                                     std::optional<std::string_view> geometry,
                                     std::optional<std::string_view> coordinates,
                                     std::optional<std::string_view> geoproperty) {
  if (!georel) return Bad("a geo-query needs georel (geometry and coordinates were given)");
  if (!geometry) return Bad("a geo-query needs geometry");
  if (!coordinates) return Bad("a geo-query needs coordinates");
  GeoQuery q;
  CIVITAS_RETURN_IF_ERROR(ParseGeoRel(*georel, &q));
  if (geoproperty) {
    if (geoproperty->empty()) return Bad("geoproperty cannot be empty");
    q.geoproperty = std::string(*geoproperty);
  }
  auto coords = ParseJson(*coordinates, 16);
  if (!coords.ok()) return Bad("coordinates must be a JSON array of positions");
  return Finish(std::move(q), *geometry, *coords);
}

Result<GeoQuery> ParseGeoQueryJson(const Json& geo_q) {
  if (!geo_q.is_object()) return Bad("geoQ must be an object");
  const Json* georel = geo_q.Find("georel");
  const Json* geometry = geo_q.Find("geometry");
  const Json* coordinates = geo_q.Find("coordinates");
  if (georel == nullptr || !georel->is_string()) return Bad("geoQ needs a georel string");
  if (geometry == nullptr || !geometry->is_string()) return Bad("geoQ needs a geometry string");
  if (coordinates == nullptr) return Bad("geoQ needs coordinates");
  GeoQuery q;
  CIVITAS_RETURN_IF_ERROR(ParseGeoRel(georel->as_string(), &q));
  if (const Json* gp = geo_q.Find("geoproperty")) {
    if (!gp->is_string() || gp->as_string().empty()) {
      return Bad("geoQ geoproperty must be a non-empty string");
    }
    q.geoproperty = gp->as_string();
  }
  if (coordinates->is_string()) {
    auto coords = ParseJson(coordinates->as_string(), 16);
    if (!coords.ok()) return Bad("geoQ coordinates must be an array of positions");
    return Finish(std::move(q), geometry->as_string(), *coords);
  }
  return Finish(std::move(q), geometry->as_string(), *coordinates);
}

bool GeoQuery::Matches(const Geometry& value) const {
  // The common case "entities (points) in this area": one point against polygons only is one
  // lookup in the prepared polygons, with the same answer as the general predicates.
  if (prepared && value.points.size() == 1 && value.lines.empty() && value.polygons.empty() &&
      geometry.points.empty() && geometry.lines.empty()) {
    PreparedPolygons::Location loc = prepared->Locate(value.points[0]);
    switch (rel) {
      case GeoRel::kWithin:
        return loc == PreparedPolygons::Location::kInterior;
      case GeoRel::kIntersects:
        return loc != PreparedPolygons::Location::kExterior;
      case GeoRel::kDisjoint:
        return loc == PreparedPolygons::Location::kExterior;
      default:
        break;
    }
  }
  switch (rel) {
    case GeoRel::kNear: {
      double d = DistanceMeters(value, geometry);
      if (max_distance) return d <= *max_distance;
      if (min_distance) return d >= *min_distance;
      return false;
    }
    case GeoRel::kWithin:
      return Within(value, geometry);
    case GeoRel::kContains:
      return Contains(value, geometry);
    case GeoRel::kIntersects:
      return Intersects(value, geometry);
    case GeoRel::kEquals:
      return Equals(value, geometry);
    case GeoRel::kDisjoint:
      return Disjoint(value, geometry);
    case GeoRel::kOverlaps:
      return Overlaps(value, geometry);
  }
  return false;
}

std::optional<std::vector<Box>> GeoQuery::SearchBoxes() const {
  const Box& b = geometry.box;
  // Slack for the predicates' tolerance (1e-9 degrees).
  constexpr double kSlack = 1e-8;
  if (rel == GeoRel::kDisjoint || (rel == GeoRel::kNear && !max_distance)) return std::nullopt;
  if (rel != GeoRel::kNear) {
    return std::vector<Box>{
        {b.min_lon - kSlack, b.min_lat - kSlack, b.max_lon + kSlack, b.max_lat + kSlack}};
  }
  // Everything within d metres of the box: d converted to degrees of latitude, and of longitude
  // at the box's latitude farthest from the equator (where a degree of longitude is shortest).
  // 0.5% extra covers rounding; near a pole every longitude qualifies.
  double dlat = *max_distance / kMetersPerDegree * 1.005 + kSlack;
  double min_lat = b.min_lat - dlat, max_lat = b.max_lat + dlat;
  double far_lat = std::max(std::fabs(min_lat), std::fabs(max_lat));
  if (far_lat >= 89.9) {
    return std::vector<Box>{{-180, std::max(-90.0, min_lat), 180, std::min(90.0, max_lat)}};
  }
  double dlon = dlat / std::cos(far_lat * std::numbers::pi / 180);
  double min_lon = b.min_lon - dlon, max_lon = b.max_lon + dlon;
  min_lat = std::max(-90.0, min_lat);
  max_lat = std::min(90.0, max_lat);
  if (max_lon - min_lon >= 360) return std::vector<Box>{{-180, min_lat, 180, max_lat}};
  std::vector<Box> boxes{{std::max(-180.0, min_lon), min_lat, std::min(180.0, max_lon), max_lat}};
  // Across the antimeridian the search area continues on the other side.
  if (min_lon < -180) boxes.push_back({min_lon + 360, min_lat, 180, max_lat});
  if (max_lon > 180) boxes.push_back({-180, min_lat, max_lon - 360, max_lat});
  return boxes;
}

}  // namespace civitas::geo
