#include "query/geo_filter.h"

#include <gtest/gtest.h>

namespace civitas::query {
namespace {

constexpr const char* kLocation = "https://uri.etsi.org/ngsi-ld/location";

Json Instance(const char* kind, const char* value, const char* dataset_id = nullptr) {
  Json inst = Json::MakeObject();
  inst.Set("type", kind);
  inst.Set("value", *ParseJson(value));
  if (dataset_id != nullptr) inst.Set("datasetId", dataset_id);
  return inst;
}

GeoFilter Filter(const char* georel, const char* geometry, const char* coordinates,
                 const char* property = kLocation) {
  auto q = geo::ParseGeoQueryParams(georel, geometry, coordinates, std::nullopt);
  EXPECT_TRUE(q.ok()) << q.status().detail();
  return GeoFilter{*q, property};
}

TEST(GeoFilterTest, ReadsGeoPropertyInstancesOnly) {
  ngsild::Entity e;
  e.id = "urn:e";
  e.attrs = {{kLocation,
              {Instance("Property", R"({"type":"Point","coordinates":[1,1]})"),
               Instance("GeoProperty", R"("urn:ngsi-ld:null")", "urn:ds:0"),
               Instance("GeoProperty", R"({"type":"Point","coordinates":[5,5]})", "urn:ds:1"),
               Instance("GeoProperty",
                        R"({"type":"Polygon","coordinates":[[[20,20],[30,20],[30,30],[20,20]]]})",
                        "urn:ds:2")}}};
  // A Property holding GeoJSON is data, not a location.
  EXPECT_FALSE(Filter("intersects", "Point", "[1,1]").Matches(e));
  // Any matching instance is enough: the point one, the polygon one.
  EXPECT_TRUE(Filter("intersects", "Point", "[5,5]").Matches(e));
  EXPECT_TRUE(Filter("within", "Polygon", "[[[4,4],[6,4],[6,6],[4,6],[4,4]]]").Matches(e));
  EXPECT_TRUE(Filter("contains", "Point", "[28,22]").Matches(e));
  EXPECT_TRUE(Filter("near;maxDistance==1000", "Point", "[5.005,5]").Matches(e));
  EXPECT_FALSE(Filter("near;maxDistance==100", "Point", "[5.005,5]").Matches(e));
  // Another GeoProperty, or none: no match, not even disjoint.
  EXPECT_FALSE(
      Filter("disjoint", "Point", "[50,50]", "https://uri.etsi.org/ngsi-ld/observationSpace")
          .Matches(e));
  EXPECT_TRUE(Filter("disjoint", "Point", "[50,50]").Matches(e));
  EXPECT_EQ(GeometriesOf(e, kLocation).size(), 2u);
}

TEST(GeoFilterTest, PointShortcutAgreesWithTheParser) {
  // Points with altitude, on range limits, and invalid ones (which never match).
  for (const char* value :
       {R"({"type":"Point","coordinates":[180,-90,12.5]})",
        R"({"type":"Point","coordinates":[-180,90]})",
        R"({"type":"Point","coordinates":[10.2,56.1]})",
        R"({"type":"Point","coordinates":[181,0]})", R"({"type":"Point","coordinates":[1]})",
        R"({"type":"Point","coordinates":[1,"2"]})"}) {
    ngsild::Entity e;
    e.attrs = {{kLocation, {Instance("GeoProperty", value)}}};
    auto parsed = geo::ParseGeoJson(*ParseJson(value));
    for (const char* coords : {"[180,-90]", "[-180,90]", "[10.2,56.1]", "[0,0]"}) {
      for (const char* rel : {"intersects", "disjoint", "equals", "near;maxDistance==10"}) {
        GeoFilter f = Filter(rel, "Point", coords);
        bool expected = parsed.ok() && f.query.Matches(*parsed);
        EXPECT_EQ(f.Matches(e), expected) << value << " " << rel << " " << coords;
      }
    }
  }
}

}  // namespace
}  // namespace civitas::query
