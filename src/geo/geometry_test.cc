#include "geo/geometry.h"

#include <gtest/gtest.h>

namespace civitas::geo {
namespace {

Result<Geometry> Parse(const char* text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << text;
  return ParseGeoJson(*v);
}

std::string Error(const char* text) {
  auto g = Parse(text);
  EXPECT_FALSE(g.ok()) << text;
  if (g.ok()) return "";
  EXPECT_EQ(g.status().code(), ErrorCode::kBadRequestData);
  return g.status().detail();
}

TEST(GeometryTest, ParsesEveryType) {
  auto p = Parse(R"({"type":"Point","coordinates":[10.2,56.1,12]})");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->type, "Point");
  ASSERT_EQ(p->points.size(), 1u);
  EXPECT_EQ(p->points[0], (Point{10.2, 56.1}));
  EXPECT_EQ(p->Dimension(), 0);

  auto mp = Parse(R"({"type":"MultiPoint","coordinates":[[1,2],[3,4]]})");
  ASSERT_TRUE(mp.ok());
  EXPECT_EQ(mp->points.size(), 2u);
  EXPECT_EQ(mp->box.min_lon, 1);
  EXPECT_EQ(mp->box.max_lat, 4);

  auto ml =
      Parse(R"({"type":"MultiLineString","coordinates":[[[0,0],[1,1]],[[2,2],[3,3],[4,2]]]})");
  ASSERT_TRUE(ml.ok());
  EXPECT_EQ(ml->lines.size(), 2u);
  EXPECT_EQ(ml->Dimension(), 1);

  auto poly = Parse(
      R"({"type":"Polygon","coordinates":[[[0,0],[10,0],[10,10],[0,10],[0,0]],
                                          [[2,2],[2,4],[4,4],[4,2],[2,2]]]})");
  ASSERT_TRUE(poly.ok());
  ASSERT_EQ(poly->polygons.size(), 1u);
  EXPECT_EQ(poly->polygons[0].rings.size(), 2u);
  EXPECT_EQ(poly->Dimension(), 2);

  auto mpoly = Parse(R"({"type":"MultiPolygon","coordinates":[
      [[[0,0],[1,0],[1,1],[0,0]]], [[[5,5],[6,5],[6,6],[5,5]]]]})");
  ASSERT_TRUE(mpoly.ok());
  EXPECT_EQ(mpoly->polygons.size(), 2u);
  EXPECT_EQ(mpoly->box.max_lon, 6);

  auto gc = Parse(R"({"type":"GeometryCollection","geometries":[
      {"type":"Point","coordinates":[1,1]},{"type":"LineString","coordinates":[[0,0],[2,2]]}]})");
  ASSERT_TRUE(gc.ok());
  EXPECT_EQ(gc->points.size(), 1u);
  EXPECT_EQ(gc->lines.size(), 1u);
}

TEST(GeometryTest, BoundingBoxCoversHolesOutsideTheShell) {
  // Not a valid OGC polygon (the hole leaves the shell), but accepted; the box must still cover
  // every ring, as the predicates and the spatial index rely on it.
  auto g = Parse(R"({"type":"Polygon","coordinates":[[[10,56],[10.4,56],[10,54],[10,56]],
                                                     [[10.1,56.1],[10.2,55.2],[10.1,56.2],[10.1,56.1]]]})");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->box.max_lat, 56.2);
  EXPECT_EQ(g->box.min_lat, 54);
}

TEST(GeometryTest, AcceptsClockwiseOuterRings) {
  // RFC 7946 wants counter-clockwise outer rings; three Aarhus districts are clockwise.
  EXPECT_TRUE(Parse(R"({"type":"Polygon","coordinates":[[[0,0],[0,1],[1,1],[1,0],[0,0]]]})").ok());
  EXPECT_TRUE(Parse(R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]})").ok());
}

TEST(GeometryTest, RejectsInvalidGeometriesWithAClearMessage) {
  EXPECT_NE(Error(R"({"type":"Point","coordinates":[10,91]})").find("latitude 91 is out of range"),
            std::string::npos);
  EXPECT_NE(Error(R"({"type":"Point","coordinates":[180.5,0]})").find("longitude 180.5"),
            std::string::npos);
  EXPECT_NE(Error(R"({"type":"Point","coordinates":[10]})").find("2 or 3 numbers"),
            std::string::npos);
  EXPECT_NE(Error(R"({"type":"Point","coordinates":[10,20,30,40]})").find("2 or 3"),
            std::string::npos);
  EXPECT_NE(Error(R"({"type":"Point","coordinates":["10",20]})").find("numbers"),
            std::string::npos);
  EXPECT_NE(Error(R"({"type":"LineString","coordinates":[[10,56]]})").find("at least 2"),
            std::string::npos);
  // A ring of 3 positions, an open ring, an empty polygon.
  EXPECT_NE(Error(R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[0,0]]]})").find("at least 4"),
            std::string::npos);
  std::string open = Error(R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]})");
  EXPECT_NE(open.find("closed"), std::string::npos);
  EXPECT_NE(open.find("coordinates[0]"), std::string::npos) << open;
  EXPECT_FALSE(Parse(R"({"type":"Polygon","coordinates":[]})").ok());
  // A hole that is not closed, with its path in the message.
  std::string hole = Error(R"({"type":"Polygon","coordinates":[[[0,0],[9,0],[9,9],[0,0]],
                                                               [[1,1],[2,1],[2,2],[1,2]]]})");
  EXPECT_NE(hole.find("coordinates[1]"), std::string::npos) << hole;
  EXPECT_NE(Error(R"({"type":"Circle","coordinates":[10,56]})").find("unknown geometry type"),
            std::string::npos);
  EXPECT_FALSE(Parse(R"({"type":"Point"})").ok());
  EXPECT_FALSE(Parse(R"({"coordinates":[1,2]})").ok());
  EXPECT_FALSE(Parse(R"([1,2])").ok());
  EXPECT_FALSE(Parse(R"({"type":"MultiPolygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]})").ok());
  EXPECT_FALSE(Parse(R"({"type":"GeometryCollection"})").ok());
  EXPECT_FALSE(Parse(R"({"type":"GeometryCollection","geometries":[{"type":"Point"}]})").ok());
}

TEST(GeometryTest, ParseGeometryFromTypeAndCoordinates) {
  auto g = ParseGeometry("Point", *ParseJson("[8.68,49.40]"));
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->points[0], (Point{8.68, 49.40}));
  EXPECT_FALSE(ParseGeometry("GeometryCollection", *ParseJson("[]")).ok());
  EXPECT_FALSE(ParseGeometry("point", *ParseJson("[1,2]")).ok());
  EXPECT_FALSE(ParseGeometry("Polygon", *ParseJson("[1,2]")).ok());
}

}  // namespace
}  // namespace civitas::geo
