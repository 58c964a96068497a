#include "geo/geo_query.h"

#include <gtest/gtest.h>

namespace civitas::geo {
namespace {

TEST(GeoQueryTest, ParsesEveryGeoRel) {
  GeoQuery q;
  ASSERT_TRUE(ParseGeoRel("near;maxDistance==500", &q).ok());
  EXPECT_EQ(q.rel, GeoRel::kNear);
  EXPECT_EQ(q.max_distance, 500);
  EXPECT_FALSE(q.min_distance);
  ASSERT_TRUE(ParseGeoRel("near;minDistance==12.5", &q).ok());
  EXPECT_EQ(q.min_distance, 12.5);
  EXPECT_FALSE(q.max_distance);
  const std::pair<const char*, GeoRel> rels[] = {
      {"within", GeoRel::kWithin},         {"contains", GeoRel::kContains},
      {"intersects", GeoRel::kIntersects}, {"equals", GeoRel::kEquals},
      {"disjoint", GeoRel::kDisjoint},     {"overlaps", GeoRel::kOverlaps}};
  for (const auto& [text, rel] : rels) {
    ASSERT_TRUE(ParseGeoRel(text, &q).ok()) << text;
    EXPECT_EQ(q.rel, rel);
    EXPECT_FALSE(q.max_distance);
  }
}

TEST(GeoQueryTest, RejectsBadGeoRels) {
  GeoQuery q;
  for (const char* bad : {"", "near", "near;", "near;maxDistance=5", "near;maxDistance==",
                          "near;maxDistance==-1", "near;maxDistance==abc", "near;maxDistance==inf",
                          "near;maxDistance==nan", "near;distance==5", "Within", "within;x",
                          "near;maxDistance==1e400", "near;maxDistance== 5"}) {
    Status st = ParseGeoRel(bad, &q);
    EXPECT_EQ(st.code(), ErrorCode::kBadRequestData) << bad;
  }
}

TEST(GeoQueryTest, UrlForm) {
  auto q = ParseGeoQueryParams("near;maxDistance==2000", "Point", "[8.68, 49.40]", std::nullopt);
  ASSERT_TRUE(q.ok()) << q.status().detail();
  EXPECT_EQ(q->geoproperty, "location");
  EXPECT_EQ(q->geometry.points[0], (Point{8.68, 49.40}));

  q = ParseGeoQueryParams("within", "Polygon", "[[[8,49],[9,49],[9,50],[8,49]]]",
                          "observationSpace");
  ASSERT_TRUE(q.ok()) << q.status().detail();
  EXPECT_EQ(q->geoproperty, "observationSpace");
  EXPECT_EQ(q->geometry.polygons.size(), 1u);
}

TEST(GeoQueryTest, UrlFormErrors) {
  auto bad = [](std::optional<std::string_view> r, std::optional<std::string_view> g,
                std::optional<std::string_view> c, std::optional<std::string_view> p) {
    auto q = ParseGeoQueryParams(r, g, c, p);
    return !q.ok() && q.status().code() == ErrorCode::kBadRequestData;
  };
  EXPECT_TRUE(bad(std::nullopt, "Point", "[1,2]", std::nullopt));
  EXPECT_TRUE(bad("within", std::nullopt, "[1,2]", std::nullopt));
  EXPECT_TRUE(bad("within", "Point", std::nullopt, std::nullopt));
  EXPECT_TRUE(bad("within", "Point", "[1,2", std::nullopt));
  EXPECT_TRUE(bad("within", "Point", "[1,200]", std::nullopt));
  EXPECT_TRUE(bad("within", "Circle", "[1,2]", std::nullopt));
  EXPECT_TRUE(bad("within", "GeometryCollection", "[]", std::nullopt));
  EXPECT_TRUE(bad("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]", std::nullopt));
  EXPECT_TRUE(bad("within", "MultiPoint", "[]", std::nullopt));  // empty
  EXPECT_TRUE(bad("within", "Point", "[1,2]", ""));
  EXPECT_TRUE(bad("around", "Point", "[1,2]", std::nullopt));
}

TEST(GeoQueryTest, JsonForm) {
  auto q = ParseGeoQueryJson(*ParseJson(
      R"({"georel":"near;maxDistance==10","geometry":"Point","coordinates":[1,2],
          "geoproperty":"operationSpace"})"));
  ASSERT_TRUE(q.ok()) << q.status().detail();
  EXPECT_EQ(q->geoproperty, "operationSpace");
  EXPECT_EQ(q->max_distance, 10);
  // Coordinates as a string, as some clients send them.
  q = ParseGeoQueryJson(*ParseJson(R"({"georel":"within","geometry":"Polygon",
        "coordinates":"[[[0,0],[1,0],[1,1],[0,0]]]"})"));
  ASSERT_TRUE(q.ok()) << q.status().detail();
  EXPECT_EQ(q->geoproperty, "location");

  for (const char* bad : {
           R"([])",
           R"({"geometry":"Point","coordinates":[1,2]})",
           R"({"georel":"within","coordinates":[1,2]})",
           R"({"georel":"within","geometry":"Point"})",
           R"({"georel":5,"geometry":"Point","coordinates":[1,2]})",
           R"({"georel":"within","geometry":"Point","coordinates":[1,2],"geoproperty":3})",
           R"({"georel":"within","geometry":"Point","coordinates":"[1,"})",
           R"({"georel":"within","geometry":"Point","coordinates":{"a":1}})",
       }) {
    auto r = ParseGeoQueryJson(*ParseJson(bad));
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), ErrorCode::kBadRequestData) << bad;
    }
  }
}

TEST(GeoQueryTest, MatchesReadsEntityRelQueryGeometry) {
  auto small = ParseGeometry("Polygon", *ParseJson("[[[1,1],[2,1],[2,2],[1,2],[1,1]]]"));
  auto big = ParseGeometry("Polygon", *ParseJson("[[[0,0],[5,0],[5,5],[0,5],[0,0]]]"));
  ASSERT_TRUE(small.ok() && big.ok());
  GeoQuery q;
  q.geometry = *big;
  q.rel = GeoRel::kWithin;
  EXPECT_TRUE(q.Matches(*small));  // the entity lies within the query's polygon
  q.rel = GeoRel::kContains;
  EXPECT_FALSE(q.Matches(*small));  // ... and does not contain it
  q.geometry = *small;
  EXPECT_TRUE(q.Matches(*big));
}

TEST(GeoQueryTest, NearIsInclusive) {
  auto a = ParseGeometry("Point", *ParseJson("[0,0]"));
  auto b = ParseGeometry("Point", *ParseJson("[0,1]"));
  ASSERT_TRUE(a.ok() && b.ok());
  GeoQuery q;
  q.geometry = *a;
  q.rel = GeoRel::kNear;
  q.max_distance = 111195.1;  // one degree of a great circle (111195.08 m), rounded up
  EXPECT_TRUE(q.Matches(*b));
  q.max_distance = 111000;
  EXPECT_FALSE(q.Matches(*b));
  q.max_distance.reset();
  q.min_distance = 111000;
  EXPECT_TRUE(q.Matches(*b));
  EXPECT_FALSE(q.Matches(*a));
}

TEST(GeoQueryTest, SearchBoxes) {
  GeoQuery q;
  q.geometry = *ParseGeometry("Point", *ParseJson("[10,56]"));
  q.rel = GeoRel::kDisjoint;
  EXPECT_FALSE(q.SearchBoxes());
  q.rel = GeoRel::kNear;
  q.min_distance = 5;
  EXPECT_FALSE(q.SearchBoxes());
  q.min_distance.reset();
  q.max_distance = 1000;
  auto boxes = q.SearchBoxes();
  ASSERT_TRUE(boxes);
  ASSERT_EQ(boxes->size(), 1u);
  // 1 km is about 0.009 degrees of latitude, and 0.016 of longitude at 56 N.
  EXPECT_NEAR((*boxes)[0].max_lat, 56.009, 0.0005);
  EXPECT_NEAR((*boxes)[0].max_lon, 10.016, 0.001);

  // Across the antimeridian: two boxes.
  q.geometry = *ParseGeometry("Point", *ParseJson("[179.999,0]"));
  boxes = q.SearchBoxes();
  ASSERT_TRUE(boxes);
  ASSERT_EQ(boxes->size(), 2u);
  EXPECT_EQ((*boxes)[1].min_lon, -180);
  EXPECT_GT((*boxes)[1].max_lon, -180);

  // Near a pole: every longitude.
  q.geometry = *ParseGeometry("Point", *ParseJson("[0,89.995]"));
  boxes = q.SearchBoxes();
  ASSERT_TRUE(boxes);
  EXPECT_EQ((*boxes)[0].min_lon, -180);
  EXPECT_EQ((*boxes)[0].max_lon, 180);
}

}  // namespace
}  // namespace civitas::geo
