#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/json.h"
#include "common/status.h"

namespace civitas::geo {

// A WGS84 position: longitude and latitude in degrees. An altitude, if given, is validated and
// dropped: every predicate here is two-dimensional.
struct Point {
  double lon = 0;
  double lat = 0;
  friend bool operator==(const Point&, const Point&) = default;
};

// A closed ring: front() == back(), at least 4 positions.
using Ring = std::vector<Point>;

// rings[0] is the outer ring, the others are holes. Either winding order is accepted (RFC 7946
// asks for counter-clockwise outer rings, but real city files have clockwise ones): the
// predicates never look at orientation.
struct Polygon {
  std::vector<Ring> rings;
};

struct Box {
  double min_lon = 0, min_lat = 0, max_lon = 0, max_lat = 0;
  bool Intersects(const Box& o) const {
    return min_lon <= o.max_lon && o.min_lon <= max_lon && min_lat <= o.max_lat &&
           o.min_lat <= max_lat;
  }
};

// Any GeoJSON geometry (RFC 7946 section 3.1) as a set of parts: points, lines and polygons.
// Point/MultiPoint fill `points`, LineString/MultiLineString `lines`, Polygon/MultiPolygon
// `polygons`; a GeometryCollection may fill all three. `type` keeps the GeoJSON type name.
//
// The model is planar in longitude/latitude, as RFC 7946 says (section 3.1.1: a line between two
// positions is a straight line in the coordinate space). So a geometry crossing the antimeridian
// must be cut in two there (RFC 7946 section 3.1.9): an edge from lon 179 to lon -179 goes the
// long way round, through lon 0. Areas around a pole are written as the RFC's example does,
// bounded by lat 90 (e.g. [[-180,80],[180,80],[180,90],[-180,90],[-180,80]]). Distances, on the
// other hand, are geodesic (predicates.h), so `near` works across the antimeridian and at the
// poles without any cutting.
struct Geometry {
  std::string type;
  std::vector<Point> points;
  std::vector<std::vector<Point>> lines;  // each at least 2 positions
  std::vector<Polygon> polygons;
  Box box;  // bounding box of all parts

  // Topological dimension: 2 if any polygon, else 1 if any line, else 0.
  int Dimension() const;
  bool empty() const { return points.empty() && lines.empty() && polygons.empty(); }
};

// Parses and validates a GeoJSON geometry object (`type` and `coordinates`, or `geometries` for
// a GeometryCollection): positions of 2 or 3 finite numbers with longitude in [-180, 180] and
// latitude in [-90, 90]; a LineString of at least 2 positions; a Polygon of at least one ring,
// each ring closed with at least 4 positions. Failures are BadRequestData with a message that
// says what and where ("coordinates[0][2]: latitude 91 is out of range [-90, 90]").
Result<Geometry> ParseGeoJson(const Json& value);

// Builds a geometry from a type name and its coordinates (the form of geoQ, where they come
// separately). Same rules and errors as ParseGeoJson; GeometryCollection is not allowed here.
Result<Geometry> ParseGeometry(std::string_view type, const Json& coordinates);

// The geometry types of RFC 7946.
bool IsGeometryTypeName(std::string_view type);

}  // namespace civitas::geo
