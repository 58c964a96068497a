#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "geo/geometry.h"

namespace civitas::geo {

// Spatial predicates between two geometries, following the OGC Simple Features / DE-9IM
// definitions as PostGIS implements them for `geometry` (planar in lon/lat, see geometry.h):
//
//  - Interior and boundary: a point is all interior; a line's boundary is the end points of its
//    open parts (a closed line has none) and the rest is interior; a polygon's boundary is its
//    rings, its interior the area inside the outer ring and outside every hole. For a
//    multi-geometry or collection a position is interior if it is interior to any part.
//  - Intersects(a, b): a and b share at least one position, boundary included. So a point on a
//    polygon's boundary, or two polygons that only touch along an edge, intersect.
//  - Disjoint(a, b) = !Intersects(a, b).
//  - Within(a, b): every position of a is in b (interior or boundary) and at least one interior
//    position of a is in b's interior. So a point on a polygon's boundary is NOT within it, nor is
//    a line lying along the boundary; a polygon sharing an edge with a larger one is within it.
//  - Contains(a, b) = Within(b, a).
//  - Equals(a, b): a and b cover each other (the same point set, whatever the vertex order,
//    starting vertex, winding or repeated positions).
//  - Overlaps(a, b): same dimension, their interiors share a part of that dimension, and neither
//    covers the other (two crossing polygons; two lines sharing a stretch; two multipoints
//    sharing some points but not all).
//
// Positions closer than 1e-9 degrees (about 0.1 mm) count as equal, and a position that close to
// an edge is on it: the coordinates of real data have gone through projections and decimal
// printing, and exact floating-point equality would make "on the boundary" a matter of luck.
//
// Cost: O(n·m) in the number of vertices of the two geometries (no internal index); callers
// keep it small with bounding boxes and the spatial index.
bool Intersects(const Geometry& a, const Geometry& b);
bool Disjoint(const Geometry& a, const Geometry& b);
bool Within(const Geometry& a, const Geometry& b);
bool Contains(const Geometry& a, const Geometry& b);
bool Equals(const Geometry& a, const Geometry& b);
bool Overlaps(const Geometry& a, const Geometry& b);

// The polygons of a geometry with their edges bucketed by latitude band, so that locating a
// position costs the edges of its band rather than all of them: a geo-query's polygon (a
// district of 2,000 vertices) is prepared once and tested against many entity positions. Gives
// exactly the answers of the predicates above for a single point against the geometry's
// polygons (same tolerance, same ring rules).
class PreparedPolygons {
 public:
  explicit PreparedPolygons(const Geometry& g);

  enum class Location { kExterior, kBoundary, kInterior };
  // Where p lies relative to the union of the polygons (interior if inside any of them).
  Location Locate(const Point& p) const;
  // True when every position of the box (edges included) is interior: no ring comes within the
  // tolerance of the box, and its centre is interior. False may also mean "not known" (a
  // caller then locates the positions one by one): a spatial index counts the points of such
  // a cell without testing each.
  bool CoversBox(const Box& box) const;
  // Where the whole box (edges included) lies when that is known: kInterior as CoversBox, or
  // kExterior when no ring comes within the tolerance of it and its centre is exterior;
  // nullopt when a ring passes near or through it (or it is not known).
  std::optional<Location> BoxLocation(const Box& box) const;
  // For dividing a box into parts: the edges that come within the tolerance of `box` (their
  // indexes; only those of `among`, the edges near a box that encloses it, when given), and
  // BoxLocation given them.
  void EdgesNear(const Box& box, const std::vector<uint32_t>* among,
                 std::vector<uint32_t>* out) const;
  std::optional<Location> BoxLocation(const Box& box, const std::vector<uint32_t>& near) const;

 private:
  struct Edge {
    Point a, b;
    uint32_t ring;  // index into ring_polygon_
  };
  double min_lat_ = 0, max_lat_ = 0, band_height_ = 1;
  std::vector<Edge> edges_;
  std::vector<std::vector<uint32_t>> bands_;  // edge indexes per band
  std::vector<uint32_t> ring_polygon_;        // polygon of each ring
  std::vector<uint8_t> ring_is_hole_;
  size_t polygons_ = 0;
};

// The mean Earth radius (IUGG), in metres, of the sphere distances are measured on.
inline constexpr double kEarthRadiusMeters = 6371008.8;

// Great-circle distance in metres between two positions on a sphere of kEarthRadiusMeters
// (haversine formula). The sphere rather than the WGS84 ellipsoid: it is within 0.5% of the
// ellipsoid everywhere, and a "within 300 m" city query does not need more; it has no
// convergence problems near antipodes, and the antimeridian and the poles need no special case.
double DistanceMeters(const Point& a, const Point& b);

// The smallest distance in metres between two geometries: 0 when they intersect, otherwise the
// smallest distance from a vertex of one to a part of the other, where a segment counts as the
// great-circle arc between its vertices (for the edges of city-scale geometries this differs
// from the planar edge by centimetres).
double DistanceMeters(const Geometry& a, const Geometry& b);

}  // namespace civitas::geo
