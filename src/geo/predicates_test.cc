#include "geo/predicates.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace civitas::geo {
namespace {

Geometry G(const char* type, const char* coordinates) {
  auto c = ParseJson(coordinates);
  EXPECT_TRUE(c.ok()) << coordinates;
  auto g = ParseGeometry(type, *c);
  EXPECT_TRUE(g.ok()) << type << " " << coordinates << ": " << g.status().detail();
  return g.ok() ? *g : Geometry{};
}

// A 10x10 square with a 2x2 hole at (4..6, 4..6); in both windings.
const Geometry kSquare = G("Polygon", "[[[0,0],[10,0],[10,10],[0,10],[0,0]]]");
const Geometry kSquareCw = G("Polygon", "[[[0,0],[0,10],[10,10],[10,0],[0,0]]]");
const Geometry kHoled =
    G("Polygon", "[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[4,4],[4,6],[6,6],[6,4],[4,4]]]");
const Geometry kHole = G("Polygon", "[[[4,4],[6,4],[6,6],[4,6],[4,4]]]");

TEST(PredicatesTest, PointAndPolygon) {
  Geometry inside = G("Point", "[2,3]");
  Geometry outside = G("Point", "[12,3]");
  Geometry on_edge = G("Point", "[10,5]");
  Geometry on_vertex = G("Point", "[0,0]");
  Geometry in_hole = G("Point", "[5,5]");
  Geometry on_hole_edge = G("Point", "[4,5]");
  for (const Geometry* sq : {&kSquare, &kSquareCw}) {
    EXPECT_TRUE(Within(inside, *sq));
    EXPECT_TRUE(Contains(*sq, inside));
    EXPECT_TRUE(Intersects(inside, *sq));
    EXPECT_FALSE(Disjoint(inside, *sq));
    EXPECT_FALSE(Within(outside, *sq));
    EXPECT_TRUE(Disjoint(outside, *sq));
    // The boundary rule: on the boundary intersects, but is not within.
    EXPECT_TRUE(Intersects(on_edge, *sq));
    EXPECT_FALSE(Within(on_edge, *sq));
    EXPECT_FALSE(Contains(*sq, on_edge));
    EXPECT_TRUE(Intersects(on_vertex, *sq));
    EXPECT_FALSE(Within(on_vertex, *sq));
    EXPECT_FALSE(Equals(inside, *sq));
    EXPECT_FALSE(Overlaps(inside, *sq));  // different dimensions never overlap
  }
  // Holes are outside; a hole's edge is boundary.
  EXPECT_TRUE(Within(in_hole, kSquare));
  EXPECT_FALSE(Within(in_hole, kHoled));
  EXPECT_TRUE(Disjoint(in_hole, kHoled));
  EXPECT_TRUE(Intersects(on_hole_edge, kHoled));
  EXPECT_FALSE(Within(on_hole_edge, kHoled));
  EXPECT_TRUE(Within(inside, kHoled));
}

TEST(PredicatesTest, Points) {
  Geometry p = G("Point", "[13.3986, 52.5547]");
  Geometry same = G("Point", "[13.3986, 52.5547]");
  Geometry other = G("Point", "[13.3987, 52.5547]");
  EXPECT_TRUE(Equals(p, same));
  EXPECT_TRUE(Within(p, same));
  EXPECT_TRUE(Contains(p, same));
  EXPECT_TRUE(Intersects(p, same));
  EXPECT_FALSE(Equals(p, other));
  EXPECT_TRUE(Disjoint(p, other));
  EXPECT_FALSE(Overlaps(p, same));

  Geometry mp1 = G("MultiPoint", "[[0,0],[1,1]]");
  Geometry mp2 = G("MultiPoint", "[[1,1],[2,2]]");
  Geometry mp3 = G("MultiPoint", "[[1,1],[0,0],[0,0]]");
  EXPECT_TRUE(Overlaps(mp1, mp2));
  EXPECT_FALSE(Overlaps(mp1, mp3));
  EXPECT_TRUE(Equals(mp1, mp3));  // the same point set
  EXPECT_TRUE(Within(G("Point", "[1,1]"), mp1));
  EXPECT_TRUE(Contains(mp1, G("Point", "[0,0]")));
  EXPECT_FALSE(Within(mp1, G("Point", "[0,0]")));
}

TEST(PredicatesTest, Lines) {
  Geometry line = G("LineString", "[[0,0],[10,0]]");
  // Crossing, touching at an end point, collinear overlap, parallel.
  Geometry cross = G("LineString", "[[5,-5],[5,5]]");
  Geometry touch = G("LineString", "[[10,0],[12,3]]");
  Geometry part = G("LineString", "[[2,0],[4,0]]");
  Geometry shifted = G("LineString", "[[5,0],[15,0]]");
  Geometry parallel = G("LineString", "[[0,1],[10,1]]");
  EXPECT_TRUE(Intersects(line, cross));
  EXPECT_FALSE(Overlaps(line, cross));  // they share a point, not a stretch
  EXPECT_TRUE(Intersects(line, touch));
  EXPECT_FALSE(Within(touch, line));
  EXPECT_TRUE(Within(part, line));
  EXPECT_TRUE(Contains(line, part));
  EXPECT_FALSE(Overlaps(part, line));  // one covers the other
  EXPECT_TRUE(Overlaps(line, shifted));
  EXPECT_TRUE(Disjoint(line, parallel));
  // The same line with more vertices and reversed is equal.
  EXPECT_TRUE(Equals(line, G("LineString", "[[10,0],[3,0],[0,0]]")));
  EXPECT_FALSE(Equals(line, part));
  // Points on a line: the end points are its boundary.
  EXPECT_TRUE(Within(G("Point", "[3,0]"), line));
  EXPECT_FALSE(Within(G("Point", "[0,0]"), line));
  EXPECT_TRUE(Intersects(G("Point", "[0,0]"), line));
  // A closed line has no boundary.
  Geometry loop = G("LineString", "[[0,0],[1,0],[1,1],[0,0]]");
  EXPECT_TRUE(Within(G("Point", "[0,0]"), loop));
}

TEST(PredicatesTest, LinesAndPolygons) {
  Geometry inside = G("LineString", "[[1,1],[3,3]]");
  Geometry crossing = G("LineString", "[[5,5],[15,5]]");
  Geometry along_edge = G("LineString", "[[0,0],[10,0]]");
  Geometry through_hole = G("LineString", "[[1,5],[9,5]]");
  EXPECT_TRUE(Within(inside, kSquare));
  EXPECT_TRUE(Contains(kSquare, inside));
  EXPECT_FALSE(Within(crossing, kSquare));
  EXPECT_TRUE(Intersects(crossing, kSquare));
  // A line lying on the boundary intersects but is not within (its interior is not inside).
  EXPECT_TRUE(Intersects(along_edge, kSquare));
  EXPECT_FALSE(Within(along_edge, kSquare));
  EXPECT_TRUE(Within(through_hole, kSquare));
  EXPECT_FALSE(Within(through_hole, kHoled));
  EXPECT_TRUE(Intersects(through_hole, kHoled));
  EXPECT_FALSE(Within(kSquare, inside));  // an area is never within a line
}

TEST(PredicatesTest, Polygons) {
  Geometry inner = G("Polygon", "[[[1,1],[3,1],[3,3],[1,3],[1,1]]]");
  Geometry sharing_edge = G("Polygon", "[[[0,0],[3,0],[3,3],[0,3],[0,0]]]");
  Geometry crossing = G("Polygon", "[[[5,5],[15,5],[15,15],[5,15],[5,5]]]");
  Geometry adjacent = G("Polygon", "[[[10,0],[20,0],[20,10],[10,10],[10,0]]]");
  Geometry far = G("Polygon", "[[[30,30],[31,30],[31,31],[30,30]]]");
  EXPECT_TRUE(Within(inner, kSquare));
  EXPECT_TRUE(Contains(kSquare, inner));
  EXPECT_FALSE(Overlaps(inner, kSquare));
  EXPECT_TRUE(Within(sharing_edge, kSquare));  // touching the boundary from inside is within
  EXPECT_TRUE(Overlaps(crossing, kSquare));
  EXPECT_FALSE(Within(crossing, kSquare));
  EXPECT_TRUE(Intersects(adjacent, kSquare));  // touch along an edge
  EXPECT_FALSE(Overlaps(adjacent, kSquare));
  EXPECT_FALSE(Within(adjacent, kSquare));
  EXPECT_TRUE(Disjoint(far, kSquare));
  // Equal whatever the winding, the starting vertex and repeated positions.
  EXPECT_TRUE(Equals(kSquare, kSquareCw));
  EXPECT_TRUE(Equals(kSquare, G("Polygon", "[[[10,10],[0,10],[0,0],[0,0],[10,0],[10,10]]]")));
  EXPECT_FALSE(Equals(kSquare, kHoled));
  EXPECT_FALSE(Equals(kSquare, inner));
  // The container surrounds the polygon entirely.
  EXPECT_TRUE(Within(kSquare, G("Polygon", "[[[-1,-1],[11,-1],[11,11],[-1,11],[-1,-1]]]")));
}

TEST(PredicatesTest, Holes) {
  // Inside the hole: disjoint from the holed polygon, even though its box is inside.
  Geometry in_hole = G("Polygon", "[[[4.5,4.5],[5.5,4.5],[5.5,5.5],[4.5,5.5],[4.5,4.5]]]");
  EXPECT_TRUE(Disjoint(in_hole, kHoled));
  EXPECT_FALSE(Within(in_hole, kHoled));
  EXPECT_TRUE(Within(in_hole, kSquare));
  // The hole itself: its whole boundary lies on the holed polygon's boundary, yet it is outside.
  EXPECT_FALSE(Within(kHole, kHoled));
  EXPECT_TRUE(Intersects(kHole, kHoled));
  EXPECT_FALSE(Overlaps(kHole, kHoled));
  // The filled square is not within the holed one; the holed one is within the filled one.
  EXPECT_FALSE(Within(kSquare, kHoled));
  EXPECT_TRUE(Within(kHoled, kSquare));
  EXPECT_TRUE(Contains(kSquare, kHoled));
  // Over the hole's edge.
  Geometry over = G("Polygon", "[[[3,3],[5,3],[5,5],[3,5],[3,3]]]");
  EXPECT_TRUE(Overlaps(over, kHoled));
}

TEST(PredicatesTest, MultiPolygons) {
  Geometry two =
      G("MultiPolygon", "[[[[0,0],[2,0],[2,2],[0,2],[0,0]]],[[[5,5],[7,5],[7,7],[5,7],[5,5]]]]");
  EXPECT_TRUE(Within(G("Point", "[6,6]"), two));
  EXPECT_TRUE(Disjoint(G("Point", "[3,3]"), two));
  EXPECT_TRUE(Within(two, G("Polygon", "[[[-1,-1],[8,-1],[8,8],[-1,8],[-1,-1]]]")));
  // A line from one part to the other leaves the multipolygon between them.
  EXPECT_FALSE(Within(G("LineString", "[[1,1],[6,6]]"), two));
  EXPECT_TRUE(Intersects(G("LineString", "[[1,1],[6,6]]"), two));
  EXPECT_TRUE(Contains(two, G("MultiPoint", "[[1,1],[6,6]]")));
  EXPECT_TRUE(Equals(two, G("MultiPolygon",
                            "[[[[5,5],[5,7],[7,7],[7,5],[5,5]]],"
                            "[[[0,0],[0,2],[2,2],[2,0],[0,0]]]]")));
  EXPECT_TRUE(Overlaps(two, G("Polygon", "[[[1,1],[3,1],[3,3],[1,3],[1,1]]]")));
}

TEST(PredicatesTest, Antimeridian) {
  // An area across the antimeridian, cut in two as RFC 7946 section 3.1.9 asks.
  Geometry fiji = G("MultiPolygon",
                    "[[[[177,-20],[180,-20],[180,-15],[177,-15],[177,-20]]],"
                    "[[[-180,-20],[-178,-20],[-178,-15],[-180,-15],[-180,-20]]]]");
  EXPECT_TRUE(Within(G("Point", "[179,-17]"), fiji));
  EXPECT_TRUE(Within(G("Point", "[-179,-17]"), fiji));
  EXPECT_TRUE(Disjoint(G("Point", "[0,-17]"), fiji));
  EXPECT_TRUE(Intersects(G("Point", "[180,-17]"), fiji));  // on the cut: boundary
  // Distances are geodesic: two points 0.2 degrees apart across the antimeridian.
  double d = DistanceMeters(Point{179.9, 0}, Point{-179.9, 0});
  EXPECT_NEAR(d, 22239, 5);
  EXPECT_NEAR(DistanceMeters(G("Point", "[179.9,-17]"), fiji), 0, 1e-9);
  EXPECT_NEAR(DistanceMeters(G("Point", "[-177.9,-17]"), fiji), 10638, 50);
}

TEST(PredicatesTest, Poles) {
  // The cap north of 80 degrees, written as RFC 7946 does.
  Geometry cap = G("Polygon", "[[[-180,80],[180,80],[180,90],[-180,90],[-180,80]]]");
  EXPECT_TRUE(Within(G("Point", "[45,85]"), cap));
  EXPECT_TRUE(Intersects(G("Point", "[0,90]"), cap));  // the pole is on the boundary
  EXPECT_TRUE(Disjoint(G("Point", "[45,79]"), cap));
  // At the pole every longitude is the same place.
  EXPECT_NEAR(DistanceMeters(Point{0, 90}, Point{123, 90}), 0, 1e-6);
  EXPECT_NEAR(DistanceMeters(Point{0, 89}, Point{180, 89}), 2 * 111195, 10);
  EXPECT_NEAR(DistanceMeters(G("Point", "[10,-90]"), G("Point", "[-170,-90]")), 0, 1e-6);
}

TEST(PredicatesTest, Distances) {
  // Aarhus city hall to the cathedral: about 500 m.
  double d = DistanceMeters(Point{10.2039, 56.1530}, Point{10.2107, 56.1568});
  EXPECT_NEAR(d, 590, 10);
  EXPECT_NEAR(DistanceMeters(Point{0, 0}, Point{0, 1}), 111195, 1);
  // Point to a segment: the perpendicular foot, not an end point.
  Geometry line = G("LineString", "[[0,0],[0,2]]");
  EXPECT_NEAR(DistanceMeters(G("Point", "[0.01,1]"), line), 1112, 1);
  EXPECT_NEAR(DistanceMeters(G("Point", "[0,3]"), line), 111195, 1);  // past the end
  // Inside a polygon: 0; inside its hole: the distance to the hole's edge.
  EXPECT_EQ(DistanceMeters(G("Point", "[1,1]"), kHoled), 0);
  EXPECT_NEAR(DistanceMeters(G("Point", "[5,5]"), kHoled), 110770, 200);
  // Two polygons: between their nearest vertex and edge.
  Geometry right = G("Polygon", "[[[11,0],[12,0],[12,1],[11,0]]]");
  EXPECT_NEAR(DistanceMeters(right, kSquare), 111195, 20);
  EXPECT_EQ(DistanceMeters(Geometry{}, kSquare), std::numeric_limits<double>::infinity());
}

// PreparedPolygons must give the general predicates' answers, for random positions (many exactly
// on vertices and edges) against polygons with holes, multipolygons and touching parts.
TEST(PredicatesTest, PreparedPolygonsAgreeWithThePredicates) {
  std::vector<Geometry> shapes = {
      kSquare,
      kSquareCw,
      kHoled,
      G("MultiPolygon",
        "[[[[0,0],[2,0],[2,2],[0,2],[0,0]]],[[[2,0],[4,0],[4,2],[2,2],[2,0]]],"
        "[[[5,5],[9,5],[9,9],[5,9],[5,5]],[[6,6],[8,6],[8,8],[6,8],[6,6]]]]"),
      G("Polygon", "[[[0,0],[10,3],[3,3],[7,8],[1,9],[0,0]]]"),  // concave
  };
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> coord(-1, 11);
  int checked = 0, inside = 0, boundary = 0;
  for (const auto& shape : shapes) {
    PreparedPolygons prepared(shape);
    std::vector<Point> vertices;
    for (const auto& poly : shape.polygons) {
      for (const auto& ring : poly.rings) vertices.insert(vertices.end(), ring.begin(), ring.end());
    }
    for (int i = 0; i < 3000; ++i) {
      Point p;
      switch (i % 3) {
        case 0:
          p = {coord(rng), coord(rng)};
          break;
        case 1:
          p = vertices[rng() % vertices.size()];
          break;
        default: {  // on an edge, or on the grid lines the shapes are drawn on
          const Point& a = vertices[rng() % vertices.size()];
          const Point& b = vertices[rng() % vertices.size()];
          double t = std::uniform_real_distribution<double>(0, 1)(rng);
          p = rng() % 2 ? Point{a.lon + (b.lon - a.lon) * t, a.lat + (b.lat - a.lat) * t}
                        : Point{std::round(coord(rng)), coord(rng)};
        }
      }
      Geometry point;
      point.type = "Point";
      point.points = {p};
      point.box = {p.lon, p.lat, p.lon, p.lat};
      auto loc = prepared.Locate(p);
      bool within = Within(point, shape), intersects = Intersects(point, shape);
      ASSERT_EQ(loc == PreparedPolygons::Location::kInterior, within)
          << "shape " << &shape - &shapes[0] << " point " << p.lon << "," << p.lat;
      ASSERT_EQ(loc != PreparedPolygons::Location::kExterior, intersects)
          << "shape " << &shape - &shapes[0] << " point " << p.lon << "," << p.lat;
      ++checked;
      inside += within;
      boundary += intersects && !within;
    }
  }
  EXPECT_EQ(checked, 15000);
  EXPECT_GT(inside, 1000);
  EXPECT_GT(boundary, 1000);
}

// CoversBox and BoxLocation may say "not known", but when they say a box is interior (or
// exterior), every position of the box must be: corners, edges and inside, against holes,
// multipolygons and a concave shape.
TEST(PredicatesTest, PreparedPolygonsCoverOnlyInteriorBoxes) {
  PreparedPolygons holed(kHoled);
  EXPECT_TRUE(holed.CoversBox({1, 1, 3, 3}));
  EXPECT_FALSE(holed.CoversBox({3, 3, 5, 5}));          // reaches into the hole
  EXPECT_FALSE(holed.CoversBox({4.5, 4.5, 5.5, 5.5}));  // inside the hole
  EXPECT_FALSE(holed.CoversBox({-1, -1, 1, 1}));        // crosses the outer ring
  EXPECT_FALSE(holed.CoversBox({0, 1, 1, 2}));          // touches it
  EXPECT_FALSE(holed.CoversBox({1e-10, 1, 1, 2}));      // within the tolerance of it
  EXPECT_FALSE(holed.CoversBox({11, 11, 12, 12}));      // outside
  // BoxLocation also knows boxes wholly outside, and says nothing of boxes near a ring.
  using Loc = PreparedPolygons::Location;
  EXPECT_EQ(holed.BoxLocation({1, 1, 3, 3}), Loc::kInterior);
  EXPECT_EQ(holed.BoxLocation({4.5, 4.5, 5.5, 5.5}), Loc::kExterior);  // inside the hole
  EXPECT_EQ(holed.BoxLocation({11, 11, 12, 12}), Loc::kExterior);
  EXPECT_EQ(holed.BoxLocation({11, -20, 12, -15}), Loc::kExterior);  // below every ring
  EXPECT_EQ(holed.BoxLocation({3, 3, 5, 5}), std::nullopt);
  EXPECT_EQ(holed.BoxLocation({10, 1, 12, 2}), std::nullopt);          // touches the outer ring
  EXPECT_EQ(holed.BoxLocation({10 + 1e-10, 1, 12, 2}), std::nullopt);  // within the tolerance

  std::vector<Geometry> shapes = {
      kSquare,
      kHoled,
      G("MultiPolygon",
        "[[[[0,0],[2,0],[2,2],[0,2],[0,0]]],[[[2,0],[4,0],[4,2],[2,2],[2,0]]],"
        "[[[5,5],[9,5],[9,9],[5,9],[5,5]],[[6,6],[8,6],[8,8],[6,8],[6,6]]]]"),
      G("Polygon", "[[[0,0],[10,3],[3,3],[7,8],[1,9],[0,0]]]"),
  };
  std::mt19937 rng(11);
  auto coord = [&](double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(rng);
  };
  int covered = 0, outside = 0;
  for (const auto& shape : shapes) {
    PreparedPolygons prepared(shape);
    for (int i = 0; i < 2000; ++i) {
      double lon = coord(-1, 11), lat = coord(-1, 11), w = coord(0, 2), h = coord(0, 2);
      Box box{lon, lat, lon + w, lat + h};
      std::optional<PreparedPolygons::Location> at = prepared.BoxLocation(box);
      if (!at) continue;
      ++(*at == PreparedPolygons::Location::kInterior ? covered : outside);
      for (int k = 0; k < 20; ++k) {
        Point p = k < 4
                      ? Point{k % 2 ? box.max_lon : box.min_lon, k / 2 ? box.max_lat : box.min_lat}
                      : Point{coord(box.min_lon, box.max_lon), coord(box.min_lat, box.max_lat)};
        if (k >= 4 && k < 12) {  // on an edge of the box
          double edge[4] = {box.min_lon, box.max_lon, box.min_lat, box.max_lat};
          (k % 4 < 2 ? p.lon : p.lat) = edge[k % 4];
        }
        ASSERT_EQ(prepared.Locate(p), *at)
            << "shape " << &shape - &shapes[0] << " box " << box.min_lon << "," << box.min_lat
            << " " << box.max_lon << "," << box.max_lat << " point " << p.lon << "," << p.lat;
      }
    }
  }
  EXPECT_GT(covered, 500);
  EXPECT_GT(outside, 500);
}

TEST(PredicatesTest, EmptyGeometriesMatchNothing) {
  Geometry empty = G("MultiPoint", "[]");
  EXPECT_FALSE(Intersects(empty, kSquare));
  EXPECT_TRUE(Disjoint(empty, kSquare));
  EXPECT_FALSE(Within(empty, kSquare));
  EXPECT_FALSE(Equals(empty, empty));
}

TEST(PredicatesTest, ToleranceOnBoundaries) {
  // A position 1e-12 degrees off an edge is on it; 1e-6 degrees (about 10 cm) is not.
  EXPECT_FALSE(Within(G("Point", "[10.000000000001,5]"), kSquare));
  EXPECT_TRUE(Intersects(G("Point", "[10.000000000001,5]"), kSquare));
  EXPECT_TRUE(Disjoint(G("Point", "[10.000001,5]"), kSquare));
  EXPECT_TRUE(Within(G("Point", "[9.999999,5]"), kSquare));
}

}  // namespace
}  // namespace civitas::geo
