#include "ngsild/parse.h"

#include <gtest/gtest.h>

namespace civitas::ngsild {
namespace {

// A registry whose fetcher never succeeds: these tests use the core context only.
jsonld::ContextRegistry& Registry() {
  static jsonld::ContextRegistry r({}, [](const std::string&) -> Result<std::string> {
    return Status(ErrorCode::kLdContextNotAvailable, "offline");
  });
  return r;
}

Result<EntityFragment> Parse(const char* text, ParseOptions o = {}) {
  auto body = ParseJson(text);
  EXPECT_TRUE(body.ok());
  return ParseEntityBody(*body, *Registry().Core(), o);
}

constexpr std::string_view kVocab = "https://uri.etsi.org/ngsi-ld/default-context/";

TEST(ParseTest, NormalizedEntityIsExpanded) {
  auto f = Parse(R"({"id":"urn:ngsi-ld:Car:1","type":"Car",
      "speed":{"type":"Property","value":80,"unitCode":"KMH","observedAt":"2024-01-01T00:00:00Z"},
      "owner":{"type":"Relationship","object":"urn:ngsi-ld:Person:1"},
      "location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[10.2,56.1]}}})",
                 {.require_id_and_type = true});
  ASSERT_TRUE(f.ok()) << f.status().detail();
  EXPECT_EQ(f->id, "urn:ngsi-ld:Car:1");
  ASSERT_EQ(f->types.size(), 1u);
  EXPECT_EQ(f->types[0], std::string(kVocab) + "Car");
  ASSERT_EQ(f->attrs.size(), 3u);
  EXPECT_EQ(f->attrs[0].name, std::string(kVocab) + "speed");
  EXPECT_EQ(f->attrs[0].instances[0].GetString("unitCode"), "KMH");
  EXPECT_EQ(f->attrs[2].name, "https://uri.etsi.org/ngsi-ld/location");
}

TEST(ParseTest, ConciseFormsAreNormalized) {
  auto f = Parse(R"({"id":"urn:x:1","type":"T","a":5,"b":{"object":"urn:x:2"},
      "c":{"languageMap":{"en":"hi"}},"location":{"type":"Point","coordinates":[1,2]},
      "d":{"value":{"k":1},"sub":7}})");
  ASSERT_TRUE(f.ok()) << f.status().detail();
  EXPECT_EQ(f->attrs[0].instances[0].GetString("type"), "Property");
  EXPECT_EQ(f->attrs[1].instances[0].GetString("type"), "Relationship");
  EXPECT_EQ(f->attrs[2].instances[0].GetString("type"), "LanguageProperty");
  EXPECT_EQ(f->attrs[3].instances[0].GetString("type"), "GeoProperty");
  const Json* sub = f->attrs[4].instances[0].Find(std::string(kVocab) + "sub");
  ASSERT_NE(sub, nullptr);
  EXPECT_EQ(sub->GetString("type"), "Property");
}

TEST(ParseTest, MultiInstanceNeedsDistinctDatasetIds) {
  EXPECT_TRUE(Parse(R"({"id":"urn:x:1","type":"T","a":[{"type":"Property","value":1},
      {"type":"Property","value":2,"datasetId":"urn:ds:2"}]})").ok());
  auto dup = Parse(R"({"id":"urn:x:1","type":"T","a":[{"type":"Property","value":1},
      {"type":"Property","value":2}]})");
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.status().code(), ErrorCode::kBadRequestData);
}

struct BadCase {
  const char* body;
  const char* why;
};

TEST(ParseTest, InvalidBodiesAreBadRequestData) {
  const BadCase cases[] = {
      {R"({"type":"T"})", "no id"},
      {R"({"id":"urn:x:1"})", "no type"},
      {R"({"id":"not a uri","type":"T"})", "id not a URI"},
      {R"({"id":"urn:x:1","type":"T","a":{"type":"Property"}})", "property without value"},
      {R"({"id":"urn:x:1","type":"T","a":{"type":"Property","value":null}})", "null value"},
      {R"({"id":"urn:x:1","type":"T","r":{"type":"Relationship","object":"nope"}})",
       "object not a URI"},
      {R"({"id":"urn:x:1","type":"T","a":{"type":"Magic","value":1}})", "unknown kind"},
      {R"({"id":"urn:x:1","type":"T","a":{"type":"Property","value":1,"observedAt":"yesterday"}})",
       "bad observedAt"},
      {R"({"id":"urn:x:1","type":"T","a":{"type":"Property","value":1,"observedAt":"2024-01-01T00:00:00"}})",
       "observedAt without zone"},
      {R"({"id":"urn:x:1","type":"T","location":{"type":"Property","value":1}})",
       "location not geo"},
      {R"({"id":"urn:x:1","type":"T","location":{"type":"GeoProperty","value":{"type":"Point","coordinates":[200,0]}}})",
       "longitude out of range"},
      {R"({"id":"urn:x:1","type":"T","location":{"type":"GeoProperty","value":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}}})",
       "open ring"},
      {R"({"id":"urn:x:1","type":"T","a=b":1})", "invalid attribute name"},
      {R"({"id":"urn:x:1","type":"T(","a":1})", "invalid type name"},
      {R"({"id":"urn:x:1","type":"T","a":{"type":"Property","value":1,"object":"urn:x:2"}})",
       "mixed members"},
      {R"({"id":"urn:x:1","type":"T","v":{"type":"VocabProperty","vocab":5}})", "vocab number"},
      {R"({"id":"urn:x:1","type":"T","l":{"type":"LanguageProperty","languageMap":{"en":5}}})",
       "languageMap number"},
      {R"({"id":"urn:x:1","type":[]})", "empty type list"},
  };
  for (const auto& c : cases) {
    auto f = Parse(c.body, {.require_id_and_type = true});
    EXPECT_FALSE(f.ok()) << c.why;
    if (!f.ok()) EXPECT_EQ(f.status().code(), ErrorCode::kBadRequestData) << c.why;
  }
}

TEST(ParseTest, NotAnObjectIsInvalidRequest) {
  auto body = ParseJson("[1,2]");
  ASSERT_TRUE(body.ok());
  auto f = ParseEntityBody(*body, *Registry().Core(), {});
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), ErrorCode::kInvalidRequest);
}

TEST(ParseTest, PartialAllowsNullLiteralAndMissingType) {
  auto f = Parse(R"({"a":"urn:ngsi-ld:null","b":{"value":3}})", {.partial = true});
  ASSERT_TRUE(f.ok()) << f.status().detail();
  EXPECT_EQ(f->attrs[0].instances[0].GetString("value"), kNullLiteral);
}

TEST(ParseTest, Uris) {
  EXPECT_TRUE(IsUri("urn:ngsi-ld:Car:1"));
  EXPECT_TRUE(IsUri("https://example.org/a?b=c"));
  EXPECT_FALSE(IsUri("Car1"));
  EXPECT_FALSE(IsUri("urn:has space"));
  EXPECT_FALSE(IsUri(":nope"));
  EXPECT_FALSE(IsUri("1abc:x"));
}

TEST(ParseTest, GeoJsonGeometries) {
  std::string why;
  auto geo = [&](const char* text) {
    auto v = ParseJson(text);
    return v.ok() && IsGeoJsonGeometry(*v, &why);
  };
  EXPECT_TRUE(geo(R"({"type":"Point","coordinates":[10,56]})"));
  EXPECT_TRUE(geo(R"({"type":"LineString","coordinates":[[10,56],[11,57]]})"));
  EXPECT_TRUE(geo(R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]})"));
  EXPECT_TRUE(geo(R"({"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[1,1],[0,0]]]]})"));
  EXPECT_FALSE(geo(R"({"type":"LineString","coordinates":[[10,56]]})"));
  EXPECT_FALSE(geo(R"({"type":"Point","coordinates":[10]})"));
  EXPECT_FALSE(geo(R"({"type":"Circle","coordinates":[10,56]})"));
  EXPECT_FALSE(geo(R"({"type":"Point","coordinates":[10,91]})"));
  EXPECT_NE(why.find("latitude 91 is out of range"), std::string::npos) << why;
  // Clockwise outer rings (as in real city files) and holes are fine; open rings are not.
  EXPECT_TRUE(geo(R"({"type":"Polygon","coordinates":[[[0,0],[0,9],[9,9],[9,0],[0,0]],
                                                       [[1,1],[2,1],[2,2],[1,1]]]})"));
  EXPECT_FALSE(geo(R"({"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]})"));
  EXPECT_NE(why.find("closed"), std::string::npos) << why;
}

}  // namespace
}  // namespace civitas::ngsild
