#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "geo/geometry.h"
#include "geo/predicates.h"

namespace civitas::geo {

// The geo-relationships of NGSI-LD (clause 4.10).
enum class GeoRel { kNear, kWithin, kContains, kIntersects, kEquals, kDisjoint, kOverlaps };

// A geo-query (NGSI-LD clause 4.10 / 5.2.13 GeoQuery): "the entity's `geoproperty` stands in
// relation `rel` to `geometry`". The same value serves GET /entities (URL parameters),
// POST /entityOperations/query (the `geoQ` member) and, later, subscriptions and temporal
// queries.
struct GeoQuery {
  GeoRel rel = GeoRel::kIntersects;
  // For kNear exactly one of these is set (metres, >= 0); unset otherwise.
  std::optional<double> max_distance;
  std::optional<double> min_distance;
  Geometry geometry;
  // The GeoProperty to test, as the client wrote it (a term or an IRI): the caller expands it
  // with the request's @context. "location" unless given.
  std::string geoproperty = "location";
  // `geometry`'s polygons prepared for fast point location; set by the parsers below (a
  // GeoQuery built by hand works without it, only slower). Shared: queries are copied.
  std::shared_ptr<const PreparedPolygons> prepared;

  // Whether an entity whose GeoProperty has geometry `value` matches: `value` rel `geometry`
  // (so `within` means the entity lies within the query's geometry, `contains` that the entity
  // contains it); near compares DistanceMeters(value, geometry) with the distance (inclusive).
  bool Matches(const Geometry& value) const;

  // Boxes (lon/lat) that every matching geometry intersects, for a spatial index to find
  // candidates; nullopt when a match may lie anywhere (disjoint, near;minDistance). More than
  // one box when a near-search area crosses the antimeridian. Known limit: near measures to
  // edges as great-circle arcs, which bulge poleward of the planar box; for edges of a few km
  // that is millimetres (covered by the 0.5% margin), for edges of hundreds of km a match near
  // such an edge could be missed by the index (not by a scan).
  std::optional<std::vector<Box>> SearchBoxes() const;
};

// Parses a georel ("near;maxDistance==500", "within", ...) into q.rel and the distance.
Status ParseGeoRel(std::string_view text, GeoQuery* q);

// The URL form (GET /entities): georel, geometry, coordinates (JSON text such as
// "[8.68,49.40]" or "[[[8,49],[9,49],[9,50],[8,49]]]"), geoproperty (optional). Every error is
// BadRequestData: a missing part, an unknown georel or geometry type, invalid coordinates.
Result<GeoQuery> ParseGeoQueryParams(std::optional<std::string_view> georel,
                                     std::optional<std::string_view> geometry,
                                     std::optional<std::string_view> coordinates,
                                     std::optional<std::string_view> geoproperty);

// The JSON form (the `geoQ` member): an object with "georel", "geometry", "coordinates" (a JSON
// array, or a string holding one, as some clients send) and optional "geoproperty".
Result<GeoQuery> ParseGeoQueryJson(const Json& geo_q);

}  // namespace civitas::geo
